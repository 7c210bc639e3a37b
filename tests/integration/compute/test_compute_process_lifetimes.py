"""App processes end with the server: when it stops, when it is killed outright, and when a
schema subprocess takes too long, nothing they started is left running."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from compute_harness import LocalSetup
from pipelinejobs.compute.local import process as app_process
from pipelinejobs.compute.local import registry as app_registry

LIMIT = 60.0
ORPHAN_SERVER = Path(__file__).with_name("orphan_server.py")
SPAWNING_APP = {
    "id": "spawner-1.0",
    "version": "1.0",
    "command": [
        "{python}",
        "-c",
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "open('pids.tmp', 'w').write('%d %d' % (os.getpid(), child.pid))\n"
        "os.replace('pids.tmp', 'pids')\n"
        "time.sleep(600)\n",
    ],
}
SLOW_IMPORT = (
    "import os, subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    "open('pids.tmp', 'w').write('%d %d' % (os.getpid(), child.pid))\n"
    "os.replace('pids.tmp', 'pids')\n"
    "time.sleep(600)\n"
    "def run() -> None: ...\n"
)
LIFELINES = [
    pytest.param(
        "pdeathsig",
        marks=pytest.mark.skipif(
            app_process.DEFAULT_LIFELINE != "pdeathsig", reason="needs Linux's prctl"
        ),
    ),
    "guard",
]


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for its reaper has ended)."""
    stat = Path(f"/proc/{pid}/stat")
    if Path("/proc/self/stat").exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except (FileNotFoundError, ProcessLookupError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def pids_in(path: Path) -> list[int]:
    """The pids an app wrote to ``path`` (waiting until it has)."""
    deadline = time.monotonic() + LIMIT
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing wrote {path} within {LIMIT} s")
        time.sleep(0.05)
    return [int(pid) for pid in path.read_text().split()]


def still_alive(pids: list[int]) -> list[int]:
    """The pids among ``pids`` still running once those that are dying have had ``LIMIT``."""
    deadline = time.monotonic() + LIMIT
    while [pid for pid in pids if alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.05)
    return [pid for pid in pids if alive(pid)]


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("lifeline", LIFELINES)
def test_an_app_dies_with_a_server_that_is_killed_outright(tmp_path: Path, lifeline: str) -> None:
    server = subprocess.Popen([sys.executable, str(ORPHAN_SERVER), lifeline, str(tmp_path)])
    pids: list[int] = []
    try:
        pids = pids_in(tmp_path / "pids")
        app, child = pids

        server.kill()  # SIGKILL: no shutdown code of the server runs
        server.wait()

        assert still_alive([app]) == []
        if lifeline == "guard":  # the guard kills the app's whole group
            assert still_alive([child]) == []
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        kill_all(pids)


async def test_closing_the_system_kills_what_its_apps_started(local: LocalSetup) -> None:
    (local.apps_dir / "spawner-1.0.json").write_text(json.dumps(SPAWNING_APP))
    job = await local.system.submit({"appId": "spawner-1.0"})
    pids_file = local.system.work_dir / job.id / "outputs" / "pids"
    pids = await asyncio.to_thread(pids_in, pids_file)
    try:
        await local.system.close(grace=0.5)

        assert (await local.system.status(job.id)).status == "STOPPED"
        assert await asyncio.to_thread(still_alive, pids) == []
    finally:
        kill_all(pids)


async def test_a_schema_subprocess_that_hangs_is_killed_with_what_it_started(
    local: LocalSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_registry, "SCHEMA_TIMEOUT", 5.0)  # time to import, not to hang
    (local.apps_dir / "slowimport.py").write_text(SLOW_IMPORT)
    manifest = {"id": "slow-1.0", "version": "1.0", "callable": "slowimport:run"}
    (local.apps_dir / "slow-1.0.json").write_text(json.dumps(manifest))
    pids: list[int] = []
    try:
        assert not await local.system.app_exists("slow-1.0")

        assert (
            "reading its signature took over 5 s"
            in (local.system.registry.problems["slow-1.0.json"])
        )
        pids = await asyncio.to_thread(pids_in, local.apps_dir / "pids")
        assert await asyncio.to_thread(still_alive, pids) == []
    finally:
        kill_all(pids)
