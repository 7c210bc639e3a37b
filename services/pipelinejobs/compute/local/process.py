"""App processes: their environment, a run time limit, and lifetimes that end with the server's.

Every app runs as ``asyncio.create_subprocess_exec`` (an argv list, no shell) in a new session,
so its whole process group can be killed when ``maxRunTime`` runs out, the job is stopped, or
the system shuts down (closing the local execution system stops every job; an ``atexit`` hook
kills the groups still alive when the interpreter exits some other way). Its stdout and stderr
go to files in the job's work folder (never to pipes that could fill and block the app). The
environment is the system's minus every ``PIPELINEJOBS_*`` variable, so an app never sees the
server's token keys or database URLs.

A server killed outright (SIGKILL, the OOM killer) runs none of that, and an app left behind
would run on with no ``maxRunTime`` enforced. So each app process also dies with the server:

- on Linux (``prctl`` available), the app's first process asks the kernel, between fork and
  exec, for SIGKILL when its parent dies (``PR_SET_PDEATHSIG``, through ``ctypes``; the parent
  is the thread that started it, the event loop's, which lives as long as the system). If the
  server died before the request took effect, the process kills itself. Processes the app
  starts itself are not covered by this signal; they are killed with the group in every other
  case;
- elsewhere, the app runs under :mod:`pipelinejobs.compute.lifeline`, a small guard leading the
  group that kills all of it when the server's end of a pipe closes (an extra process per job,
  and it covers what the app starts too).

The same applies to the registry's schema subprocess (:func:`spawn`).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import pipelinejobs

SERVER_PREFIX = "PIPELINEJOBS_"
TAIL_BYTES = 2000
LIFELINE_MODULE = "pipelinejobs.compute.lifeline"
PR_SET_PDEATHSIG = 1
_PACKAGE_ROOT = str(Path(pipelinejobs.__file__).resolve().parent.parent)

Lifeline = Literal["pdeathsig", "guard"]
"""How an app dies with the server: the kernel's parent-death signal, or the guard process."""
_live_groups: set[int] = set()
"""Process groups of apps started and not yet killed or ended (killed at interpreter exit)."""


def _load_prctl() -> Callable[..., int] | None:
    """libc's ``prctl`` on Linux, ready to call between fork and exec; None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Any = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl  # type: ignore[no-any-return]


_PRCTL = _load_prctl()
DEFAULT_LIFELINE: Lifeline = "pdeathsig" if _PRCTL is not None else "guard"


@dataclass(frozen=True)
class ProcessOutcome:
    """How an app process ended."""

    returncode: int | None
    timed_out: bool


@dataclass
class Spawned:
    """A started process leading its own group, tied to this server's life."""

    process: asyncio.subprocess.Process
    _lifeline: int | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill_group(self) -> None:
        """SIGKILL the whole group (what the process left behind too)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    async def kill(self) -> None:
        """Kill the group, reap the leader, let go of the lifeline."""
        self.kill_group()
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.process.wait()
        self.release()

    def release(self) -> None:
        """The process has ended and its group was killed: forget it."""
        _live_groups.discard(self.process.pid)
        if self._lifeline is not None:
            with contextlib.suppress(OSError):
                os.close(self._lifeline)
            self._lifeline = None


async def spawn(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdout: int | IO[Any],
    stderr: int | IO[Any],
    lifeline: Lifeline | None = None,
) -> Spawned:
    """Start ``argv`` in a new session (stdin closed), so that it dies with this server."""
    mechanism = lifeline or DEFAULT_LIFELINE
    options: dict[str, Any] = {}
    command = list(argv)
    keep: int | None = None
    given: int | None = None
    if mechanism == "pdeathsig":
        if _PRCTL is None:
            raise ValueError("the pdeathsig lifeline needs Linux's prctl; use the guard")
        options["preexec_fn"] = _die_with(os.getpid())
    else:
        given, keep = os.pipe()
        command = [sys.executable, "-m", LIFELINE_MODULE, str(given), "--", *command]
        options["pass_fds"] = (given,)
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            **options,
        )
    except BaseException:
        if keep is not None:
            os.close(keep)
        raise
    finally:
        if given is not None:
            os.close(given)
    _live_groups.add(process.pid)
    return Spawned(process, keep)


def _die_with(parent: int) -> Callable[[], None]:
    """The ``preexec_fn`` that asks for SIGKILL when the parent dies. It runs in the child
    between fork and exec, so it only calls the already loaded ``prctl`` and ``os``."""
    prctl = _PRCTL
    assert prctl is not None

    def request_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the server died before the request took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return request_death_signal


@atexit.register
def _kill_live_groups() -> None:
    """The interpreter is exiting without having stopped its apps: stop them."""
    for group in list(_live_groups):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    _live_groups.clear()


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
    lifeline: Lifeline | None = None,
) -> ProcessOutcome:
    """Run ``argv`` to its end, or kill its process group after ``time_limit`` seconds.

    Cancelling the caller kills the process group too, so a stopped job leaves nothing behind.
    """
    with stdout.open("wb") as out, stderr.open("wb") as err:
        started = await spawn(argv, cwd=cwd, env=env, stdout=out, stderr=err, lifeline=lifeline)
    try:
        await asyncio.wait_for(started.process.wait(), time_limit)
    except TimeoutError:
        await started.kill()
        return ProcessOutcome(returncode=started.process.returncode, timed_out=True)
    except BaseException:
        await started.kill()
        raise
    started.kill_group()  # children the app left behind
    started.release()
    return ProcessOutcome(returncode=started.process.returncode, timed_out=False)


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
