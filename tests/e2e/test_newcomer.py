"""A newcomer's first hour: ``make run`` (``pipelinejobs up`` on the default relative data
directory) and ``pipelinejobs demo`` against it, a terminal they can read, and the token again.

Every system here is a real ``pipelinejobs up`` subprocess; ``scripts/newcomer-path.sh`` (run
by ``make test``) does the same from a clean clone through ``make run`` itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pipelinejobs.demo.content import DEMO_CATALOG
from pipelinejobs_up import (
    STARTUP_LIMIT,
    STOP_LIMIT,
    UP_BANNER,
    banner_url,
    clean_environment,
    command,
    start_up,
    stop_process,
)

REPOSITORY = Path(__file__).resolve().parents[2]
DEMO_LIMIT = 300
JSON_LINE = re.compile(r"^\{.*\}$")


def pipelinejobs(*args: str, cwd: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    """The console script, run in ``cwd`` with no settings but ``environment``."""
    return subprocess.run(
        [*command(), *args],
        cwd=cwd,
        env=clean_environment(**environment),
        capture_output=True,
        text=True,
        timeout=DEMO_LIMIT,
        check=False,
    )


def test_up_on_the_default_relative_data_dir_runs_the_demo_to_finished_and_indexed(
    tmp_path: Path,
) -> None:
    up = start_up(None, cwd=tmp_path)  # no --data-dir: ./data, relative, as `make run` has it
    try:
        demo = pipelinejobs("demo", "--url", up.url, "--json", cwd=tmp_path)  # token from ./data
    finally:
        assert up.stop() == 0

    assert demo.returncode == 0, demo.stderr + up.logs()
    job = json.loads(demo.stdout)
    assert job["state"] == "FINISHED"
    assert job["last_event"] == "indexed"
    archived = tmp_path / "data" / "storage" / "data-sd2e-community" / job["archive_path"][1:]
    assert (archived / "tacos.json").is_file()


def test_token_issue_reprints_the_banners_kind_of_token_from_the_default_data_dir(
    tmp_path: Path,
) -> None:
    up = start_up(None, cwd=tmp_path)
    try:
        admin = pipelinejobs("token", "issue", cwd=tmp_path)
        user = pipelinejobs("token", "issue", "--user", "bob", cwd=tmp_path)
        with httpx.Client(base_url=up.url, timeout=30) as client:
            as_admin = client.post(
                "/catalog",
                json=DEMO_CATALOG,
                headers={"Authorization": f"Bearer {admin.stdout.strip()}"},
            )
            as_user = client.post(
                "/catalog",
                json=DEMO_CATALOG,
                headers={"Authorization": f"Bearer {user.stdout.strip()}"},
            )
    finally:
        up.stop()

    assert admin.returncode == 0, admin.stderr
    assert any("pipelinejobs token issue" in line for line in up.banner)
    assert as_admin.status_code == 200, as_admin.text
    assert as_admin.json()["loaded"]["measurements"] == len(DEMO_CATALOG["measurements"])
    assert as_user.status_code == 403
    assert "may not load catalog records: it takes an admin" in as_user.json()["detail"]


# -- the terminal -------------------------------------------------------------------------------
@contextlib.contextmanager
def up_on_a_terminal(tmp_path: Path, *args: str) -> Iterator[tuple[str, list[str]]]:
    """``pipelinejobs up`` with its log (stderr) on a pseudo-terminal, as in a user's shell;
    yields its URL and the terminal's lines so far (complete once the block ends)."""
    master, slave = pty.openpty()
    seen: list[bytes] = []

    def read() -> None:
        with contextlib.suppress(OSError):  # EIO: the terminal closed
            while chunk := os.read(master, 65536):
                seen.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    banner = tmp_path / "up.out"
    with banner.open("wb") as out:
        process = subprocess.Popen(
            [*command(), "up", "--port", "0", "--data-dir", str(tmp_path / "data"), *args],
            stdout=out,
            stderr=slave,
            env=clean_environment(),
        )
    os.close(slave)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + STARTUP_LIMIT
        url = None
        while url is None:
            assert process.poll() is None, b"".join(seen).decode(errors="replace")
            assert time.monotonic() < deadline, "up did not print its banner"
            time.sleep(0.1)
            url = banner_url(banner.read_text(errors="replace").splitlines(), UP_BANNER)
        yield url, lines
    finally:
        assert stop_process(process) == 0
        reader.join(STOP_LIMIT)
        os.close(master)
        lines += b"".join(seen).decode(errors="replace").replace("\r\n", "\n").splitlines()


def token_of(tmp_path: Path, *args: str) -> str:
    issued = pipelinejobs("token", "issue", *args, cwd=tmp_path)
    assert issued.returncode == 0, issued.stderr
    return issued.stdout.strip()


def create_pipeline(url: str, token: str) -> str:
    """Register a pipeline (its execution logs its update token); that token."""
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        document = {"name": "terminal", "components": [{"id": f"terminal-{time.time_ns()}"}]}
        sent = client.post("/actors/v2/pipelines-manager/messages", json=document)
        assert sent.status_code == 200, sent.text
        execution = sent.json()["result"]["executionId"]
        for _ in range(300):
            reply = client.get(f"/actors/v2/pipelines-manager/executions/{execution}").json()
            if reply["result"]["status"] == "COMPLETE":
                return str(reply["result"]["result"]["token"])
            time.sleep(0.1)
    raise AssertionError("the pipeline was not created")


def test_up_on_a_terminal_prints_readable_lines_without_access_lines(tmp_path: Path) -> None:
    with up_on_a_terminal(tmp_path) as (url, lines):
        update_token = create_pipeline(url, token_of(tmp_path))

    said = "\n".join(lines)
    assert "Created pipeline" in said, said
    assert not [line for line in lines if JSON_LINE.match(line.strip())], said
    assert re.search(r"\[info\s*\] Created pipeline \S+ with update token \[REDACTED\]", said)
    assert update_token not in said
    assert "http request" not in said


def test_access_log_turns_the_request_lines_on_a_terminal_on(tmp_path: Path) -> None:
    with up_on_a_terminal(tmp_path, "--access-log") as (url, lines):
        create_pipeline(url, token_of(tmp_path))

    requests = [line for line in lines if "http request" in line]
    assert requests, "\n".join(lines)
    assert not [line for line in requests if JSON_LINE.match(line.strip())]
    assert any("path=/actors/v2/pipelines-manager/messages" in line for line in requests)


def test_log_format_json_keeps_json_lines_on_a_terminal(tmp_path: Path) -> None:
    with up_on_a_terminal(tmp_path, "--log-format", "json") as (url, lines):
        update_token = create_pipeline(url, token_of(tmp_path))

    records = [json.loads(line) for line in lines if JSON_LINE.match(line.strip())]
    created = [r for r in records if str(r.get("event", "")).startswith("Created pipeline")]
    assert created, "\n".join(lines)
    assert created[0]["event"].endswith("with update token [REDACTED]")
    assert update_token not in "\n".join(lines)
    assert any(r.get("event") == "http request" for r in records)  # on with JSON lines


@pytest.mark.parametrize("how", ["--log-format", "PIPELINEJOBS_LOG_FORMAT"])
def test_log_format_console_when_output_is_not_a_terminal(tmp_path: Path, how: str) -> None:
    if how == "--log-format":
        up = start_up(tmp_path / "data", args=("--log-format", "console"))
    else:
        up = start_up(tmp_path / "data", environment={"PIPELINEJOBS_LOG_FORMAT": "console"})
    try:
        create_pipeline(up.url, up.token)
    finally:
        up.stop()

    lines = up.stderr.read_text(errors="replace").splitlines()
    assert any("Created pipeline" in line for line in lines)
    assert not [line for line in lines if JSON_LINE.match(line.strip())]


# -- make run PORT=... --------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("how", ["PORT", "PIPELINEJOBS_PORT"])
def test_make_run_listens_on_the_port_asked_for(tmp_path: Path, how: str) -> None:
    port = free_port()
    venv = Path(sys.prefix)  # the installed virtual environment running these tests
    environment = clean_environment(PIPELINEJOBS_DATA_DIR=str(tmp_path / "data"))
    arguments = [f"VENV={venv}", "-o", f"{venv}/.installed-dev"]  # installed: no reinstall
    if how == "PORT":
        arguments.append(f"PORT={port}")
    else:
        environment["PIPELINEJOBS_PORT"] = str(port)
    output = tmp_path / "run.log"
    with output.open("wb") as out:
        make = subprocess.Popen(
            ["make", "-C", str(REPOSITORY), "run", *arguments],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,  # one process group: make and the `up` it starts
        )
    try:
        deadline = time.monotonic() + STARTUP_LIMIT
        while banner_url(output.read_text(errors="replace").splitlines()) is None:
            assert make.poll() is None, output.read_text(errors="replace")
            assert time.monotonic() < deadline, output.read_text(errors="replace")
            time.sleep(0.1)
        url = banner_url(output.read_text(errors="replace").splitlines())
        answered = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(make.pid, signal.SIGTERM)
        make.wait(STOP_LIMIT)
        with contextlib.suppress(ProcessLookupError):
            deadline = time.monotonic() + STOP_LIMIT
            while time.monotonic() < deadline:
                os.killpg(make.pid, 0)  # ProcessLookupError once every process has gone
                time.sleep(0.1)

    assert url == f"http://127.0.0.1:{port}"
    assert answered == 200
