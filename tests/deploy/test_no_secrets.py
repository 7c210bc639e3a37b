"""No secret value appears in any file under deploy/: credentials are references (``${VAR}``,
``$$VAR``, ``$(command)``) or markers (``@NAME@``) filled in at deploy time, and the files that
hold the real values (``deploy/.env``, ``deploy/k8s/secrets.env``) are ignored by git."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from deployfiles import DEPLOY, ROOT

IGNORED = [DEPLOY / ".env", DEPLOY / "k8s" / "secrets.env"]
REFERENCE = re.compile(r"""^["']?(\$\{|\$\$|\$\(|\$[A-Z_]|@[A-Z_]+@|<[^>]*>$)""")
URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:(?P<password>[^@\s'\"]+)@")
SECRET_SETTING = re.compile(
    r"""(?:^|(?<!\$)\{|,)\s*-?\s*(?P<name>["']?[A-Za-z_]*(KEY|SECRET|PASSWORD|PASS|TOKEN)S?["']?)"""
    r"""\s*[:=]\s*(?P<value>[^,}]*)""",
    re.IGNORECASE,
)
LONG_RANDOM = re.compile(r"\b[0-9a-f]{32,}\b|[A-Za-z0-9+/]{40,}={0,2}")


def deploy_files() -> list[Path]:
    """Every file under deploy/ that git would commit."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "deploy"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / name for name in listed if (ROOT / name).is_file()]


def secret_values(text: str) -> list[str]:
    """The lines of ``text`` that write a credential's value rather than refer to one."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for match in URL_PASSWORD.finditer(line):
            if not REFERENCE.match(match.group("password")):
                found.append(f"{number}: password in a URL: {line.strip()}")
        setting = SECRET_SETTING.search(line)
        if setting is not None and not line.lstrip().startswith(("#", "//")):
            value = setting.group("value").strip().rstrip(",")
            literal = value not in ('""', "''", "") and not REFERENCE.match(value)
            structured = value.startswith(("{", "[")) and not re.search(r"['\"]\w{6,}", value)
            if literal and not structured:
                found.append(f"{number}: {setting.group('name')} has a value: {line.strip()}")
        if LONG_RANDOM.search(line):
            found.append(f"{number}: a key-like string: {line.strip()}")
    return found


def test_no_file_under_deploy_holds_a_secret_value() -> None:
    files = deploy_files()
    assert DEPLOY / "compose.yaml" in files
    found = {
        str(path.relative_to(ROOT)): secret_values(path.read_text(errors="replace"))
        for path in files
    }
    assert {name: lines for name, lines in found.items() if lines} == {}


@pytest.mark.parametrize(
    "line",
    [
        "PIPELINEJOBS_AMQP_URL: amqp://pipelinejobs:pipelinejobs@rabbitmq:5672/",
        '{"name": "pipelinejobs", "password": "pipelinejobs", "tags": ""}',
        "  PIPELINEJOBS_ADMIN_KEY: CHANGE-ME",
        "PIPELINEJOBS_JWT_SECRET=0123456789abcdef0123456789abcdef0123456789abcdef",
        "  MONGO_INITDB_ROOT_PASSWORD: hunter2hunter2",
    ],
)
def test_the_scan_finds_an_inlined_secret(line: str) -> None:
    assert secret_values(line)


@pytest.mark.parametrize(
    "line",
    [
        "PIPELINEJOBS_AMQP_URL: amqp://pipelinejobs:${RABBITMQ_PASSWORD:?set it}@rabbitmq:5672/",
        '{"name": "pipelinejobs", "password": "@RABBITMQ_PASSWORD@", "tags": ""}',
        "PIPELINEJOBS_ADMIN_KEY=",
        '  --password "$$MONGO_INITDB_ROOT_PASSWORD"',
        "PIPELINEJOBS_JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')",
    ],
)
def test_the_scan_lets_a_reference_pass(line: str) -> None:
    assert secret_values(line) == []


def test_the_files_with_the_real_values_are_ignored_by_git() -> None:
    for path in IGNORED:
        result = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT)
        assert result.returncode == 0, f"{path} would be committed"
