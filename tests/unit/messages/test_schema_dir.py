"""Where the schemas are found: the environment, then the source checkout, then the wheel's copy.

Building a wheel in a unit test is too slow, so the lookup is tested on directories made here,
and the wheel's half of the contract (where pyproject.toml tells setuptools to put the files)
is read from pyproject.toml itself.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from importlib.metadata import PathDistribution
from pathlib import Path

import pytest
from pipelinejobs.errors import InvalidInput
from pipelinejobs.messages import schema_dir
from pipelinejobs.messages.schema_dir import (
    INSTALLED_SCHEMAS,
    SCHEMAS_DIR_ENV,
    checkout_schemas_dir,
    locate_schemas_dir,
    schemas_dir,
    schemas_in,
)

REPOSITORY = Path(__file__).resolve().parents[3]


def directory(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def never_called() -> Path | None:
    raise AssertionError("the installed copy was looked up although an earlier place had one")


def installed_at(path: Path | None) -> Callable[[], Path | None]:
    return lambda: path


def test_the_environment_comes_first(tmp_path: Path) -> None:
    configured = directory(tmp_path / "configured")
    checkout = directory(tmp_path / "checkout")

    assert locate_schemas_dir(str(configured), checkout, never_called) == configured


def test_a_configured_directory_that_does_not_exist_is_an_error_not_skipped(
    tmp_path: Path,
) -> None:
    checkout = directory(tmp_path / "checkout")

    missing = tmp_path / "nowhere"

    with pytest.raises(InvalidInput, match=rf"{missing} does not exist; set {SCHEMAS_DIR_ENV}"):
        locate_schemas_dir(str(missing), checkout, never_called)


def test_the_checkout_comes_before_the_installed_copy(tmp_path: Path) -> None:
    checkout = directory(tmp_path / "checkout")

    assert locate_schemas_dir(None, checkout, never_called) == checkout
    assert locate_schemas_dir("", checkout, never_called) == checkout


@pytest.mark.parametrize("checkout", [None, "missing"])
def test_the_installed_copy_is_used_outside_a_checkout(
    tmp_path: Path, checkout: str | None
) -> None:
    installed = directory(tmp_path / "share" / "pipelinejobs" / "schemas")
    source = None if checkout is None else tmp_path / checkout

    assert locate_schemas_dir(None, source, installed_at(installed)) == installed


@pytest.mark.parametrize("installed", [None, "missing"])
def test_nowhere_to_look_names_every_place_and_the_fix(
    tmp_path: Path, installed: str | None
) -> None:
    found = None if installed is None else tmp_path / installed

    with pytest.raises(InvalidInput) as caught:
        locate_schemas_dir(None, None, installed_at(found))

    message = str(caught.value)
    assert f"{SCHEMAS_DIR_ENV} is not set" in message
    assert "not a source checkout" in message
    assert "share/pipelinejobs/schemas" in message
    assert f"set {SCHEMAS_DIR_ENV} to the directory holding pipeline_manager_create.json" in message


def test_schemas_dir_reads_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SCHEMAS_DIR_ENV, str(tmp_path))

    assert schemas_dir() == tmp_path


def test_schemas_dir_outside_a_checkout_uses_the_installed_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed = directory(tmp_path / "share" / "pipelinejobs" / "schemas")
    monkeypatch.delenv(SCHEMAS_DIR_ENV, raising=False)
    monkeypatch.setattr(schema_dir, "checkout_schemas_dir", lambda: None)
    monkeypatch.setattr(schema_dir, "installed_schemas_dir", installed_at(installed))

    assert schemas_dir() == installed


def test_this_checkout_is_recognized_as_one() -> None:
    assert checkout_schemas_dir() == REPOSITORY / "schemas"


def test_an_installed_package_is_not_taken_for_a_checkout(tmp_path: Path) -> None:
    package = tmp_path / "lib" / "python3.11" / "site-packages" / "pipelinejobs"

    assert checkout_schemas_dir(package) is None


def test_the_installed_copy_is_where_the_distribution_record_says(tmp_path: Path) -> None:
    site = directory(tmp_path / "venv" / "lib" / "python3.11" / "site-packages")
    info = directory(site / "pipelinejobs-0.1.0.dist-info")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pipelinejobs\nVersion: 0.1.0\n")
    (info / "RECORD").write_text(
        "pipelinejobs/__init__.py,,\n"
        "../../../share/pipelinejobs/schemas/update_token.json,,\n"
        "pipelinejobs-0.1.0.dist-info/RECORD,,\n"
    )
    shared = directory(tmp_path / "venv" / "share" / "pipelinejobs" / "schemas")
    (shared / "update_token.json").write_text("{}")

    assert schemas_in(PathDistribution(info)) == shared


def test_a_distribution_without_the_schemas_has_no_installed_copy(tmp_path: Path) -> None:
    info = directory(tmp_path / "pipelinejobs-0.1.0.dist-info")
    (info / "RECORD").write_text("pipelinejobs/__init__.py,,\npipelinejobs/data.json,,\n")

    assert schemas_in(PathDistribution(info)) is None


def test_the_wheel_puts_every_schema_where_the_lookup_expects_it() -> None:
    pyproject = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())
    data_files = pyproject["tool"]["setuptools"]["data-files"]

    patterns = data_files["/".join(INSTALLED_SCHEMAS)]
    shipped = {path for pattern in patterns for path in REPOSITORY.glob(pattern)}
    assert shipped == set((REPOSITORY / "schemas").glob("*.json"))
    assert len(shipped) >= 19
