"""scripts/run-tests.sh: a run that collects no test fails; every other exit code passes through.

pytest exits 5 when it collected nothing, and a CI that reads that as success would land a
broken suite. The script is run here as `make test` and `make unit` run it, on directories of
tests made for each case.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "run-tests.sh"
NO_TESTS = "run-tests: pytest collected no tests; the suite is broken"


def run_tests(*args: str | Path) -> subprocess.CompletedProcess[str]:
    # Third-party plugins are not needed to collect these files, and skipping them keeps it quick.
    environment = os.environ | {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run(
        [str(SCRIPT), *map(str, args), "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


def suite(directory: Path, body: str | None) -> Path:
    directory.mkdir()
    if body is not None:
        (directory / "test_case.py").write_text(f"def test_case():\n    {body}\n")
    return directory


def test_an_empty_suite_fails_with_its_message(tmp_path: Path) -> None:
    result = run_tests(suite(tmp_path / "empty", None))

    assert result.returncode == 1
    assert NO_TESTS in result.stderr


def test_a_failing_test_fails_without_the_empty_suite_message(tmp_path: Path) -> None:
    result = run_tests(suite(tmp_path / "failing", "assert 1 == 2"))

    assert result.returncode == 1
    assert "1 failed" in result.stdout
    assert NO_TESTS not in result.stderr


def test_a_usage_error_keeps_its_exit_code(tmp_path: Path) -> None:
    result = run_tests(suite(tmp_path / "passing", "pass"), "--no-such-pytest-option")

    assert result.returncode == pytest.ExitCode.USAGE_ERROR == 4
    assert NO_TESTS not in result.stderr


def test_a_passing_suite_passes(tmp_path: Path) -> None:
    result = run_tests(suite(tmp_path / "passing", "pass"))

    assert result.returncode == 0
    assert "1 passed" in result.stdout
