"""Run an app on a lifeline to the server: ``python -m pipelinejobs.compute.lifeline FD -- ARGV``.

The portable way (used where Linux's ``PR_SET_PDEATHSIG`` is not available, see
:mod:`pipelinejobs.compute.local.process`) to make an app die with the server that started it,
even when the server is killed outright and no code of its runs. This guard leads the app's
process group and runs ARGV in it; FD is the read end of a pipe whose write end only the server
holds. Nothing is ever written: when the server dies, the kernel closes the write end, the read
sees end-of-file while the app still runs, and the guard kills the whole group (the app, what it
started, and itself). The guard exits with the app's exit code, or dies of the app's signal, so
the server sees the app's own ending.

Only the standard library is imported: the guard lives as long as the app does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence

USAGE = "usage: python -m pipelinejobs.compute.lifeline FD -- COMMAND [ARGUMENT...]"
EXIT_USAGE = 2


def main(argv: Sequence[str]) -> int:
    if len(argv) < 3 or argv[1] != "--" or not argv[0].isdigit():
        print(USAGE, file=sys.stderr)
        return EXIT_USAGE
    lifeline = int(argv[0])
    try:
        app = subprocess.Popen(list(argv[2:]), close_fds=True)  # noqa: S603 (the server's argv)
    except OSError as exc:
        print(f"cannot start {argv[2]}: {exc}", file=sys.stderr)
        return 127
    threading.Thread(target=_watch, args=(lifeline, app), daemon=True).start()
    code = app.wait()
    if code < 0:  # the app died of a signal: end the same way
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


def _watch(lifeline: int, app: subprocess.Popen[bytes]) -> None:
    """Block until the server's end of the pipe closes; then, if the app still runs, kill the
    process group (this guard leads it, the server started it in a new session)."""
    try:
        while os.read(lifeline, 1):
            pass
    except OSError:
        pass
    if app.poll() is None:
        os.killpg(os.getpgid(0), signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
