"""App processes: their environment, a run time limit, and a kill that reaches their children.

Every app runs as ``asyncio.create_subprocess_exec`` (an argv list, no shell) in a new session,
so the whole process group can be killed when ``maxRunTime`` runs out or the job is stopped.
Its stdout and stderr go to files in the job's work folder (never to pipes that could fill and
block the app). The environment is the system's minus every ``PIPELINEJOBS_*`` variable, so an
app never sees the server's token keys or database URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pipelinejobs

SERVER_PREFIX = "PIPELINEJOBS_"
TAIL_BYTES = 2000
_PACKAGE_ROOT = str(Path(pipelinejobs.__file__).resolve().parent.parent)


@dataclass(frozen=True)
class ProcessOutcome:
    """How an app process ended."""

    returncode: int | None
    timed_out: bool


def app_environment(
    extra: Mapping[str, str] | None = None, *, apps_dir: Path | None = None
) -> dict[str, str]:
    """The environment of an app process: no server settings; pipelinejobs (and the apps
    folder, for callable apps' own modules) importable."""
    environment = {k: v for k, v in os.environ.items() if not k.upper().startswith(SERVER_PREFIX)}
    paths = [_PACKAGE_ROOT]
    if apps_dir is not None:
        paths.append(str(apps_dir))
    if environment.get("PYTHONPATH"):
        paths.append(environment["PYTHONPATH"])
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    environment.update(extra or {})
    return environment


async def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdout: Path,
    stderr: Path,
    time_limit: float,
) -> ProcessOutcome:
    """Run ``argv`` to its end, or kill its process group after ``time_limit`` seconds.

    Cancelling the caller kills the process group too, so a stopped job leaves nothing behind.
    """
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    try:
        await asyncio.wait_for(process.wait(), time_limit)
    except TimeoutError:
        await _kill(process)
        return ProcessOutcome(returncode=process.returncode, timed_out=True)
    except BaseException:
        await _kill(process)
        raise
    _kill_group(process)  # children the app left behind
    return ProcessOutcome(returncode=process.returncode, timed_out=False)


async def _kill(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the app's process group (it leads its own session) and reap the leader."""
    _kill_group(process)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def tail(path: Path, limit: int = TAIL_BYTES) -> str:
    """The last ``limit`` bytes of a log file as text (the reason an app failed)."""
    try:
        with path.open("rb") as stream:
            stream.seek(0, os.SEEK_END)
            size = stream.tell()
            stream.seek(max(0, size - limit))
            data = stream.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace").strip()
    return ("..." + text) if size > limit else text
