"""The Dockerfile linted by hadolint and every YAML file of deploy/ by yamllint (both from PyPI,
installed by the dev extra), and the build context kept small by .dockerignore."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from deployfiles import DEPLOY, DOCKERFILE, ROOT


def tool(name: str) -> str:
    """The linter installed beside this Python (the project's virtual environment)."""
    path = Path(sys.executable).with_name(name)
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} is not installed: make install (it is in the dev extra)"
    return found


def test_the_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_report_a_defect(tmp_path: Path) -> None:
    broken = tmp_path / "Dockerfile"
    broken.write_text("FROM python:3.11-slim\nUSER app\nRUN cd /tmp && pip install httpx\n")
    result = subprocess.run([tool("hadolint"), "--no-color", str(broken)], capture_output=True)
    assert result.returncode != 0


def test_every_yaml_file_passes_yamllint() -> None:
    files = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))
    assert files
    result = subprocess.run(
        [tool("yamllint"), "--strict", "-c", str(DEPLOY / ".yamllint.yaml"), *map(str, files)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_build_context_leaves_out_environments_history_and_data() -> None:
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "data"} <= patterns
    assert {"**/.env", "deploy/k8s/secrets.env"} <= patterns
