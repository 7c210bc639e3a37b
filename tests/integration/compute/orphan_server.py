"""A stand-in server that starts one app the way the local execution system does, then waits.

``python orphan_server.py LIFELINE FOLDER``: runs, through ``run_process`` with the given
lifeline (``pdeathsig`` or ``guard``), an app that starts a child of its own and writes both
pids to ``FOLDER/pids`` ("app child"), then sleeps. The test SIGKILLs this process and checks
what is left.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from pipelinejobs.compute.local.process import Lifeline, app_environment, run_process

APP = (
    "import os, subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    "open('pids.tmp', 'w').write('%d %d' % (os.getpid(), child.pid))\n"
    "os.replace('pids.tmp', 'pids')\n"
    "time.sleep(600)\n"
)


async def main(lifeline: Lifeline, folder: Path) -> None:
    await run_process(
        [sys.executable, "-c", APP],
        cwd=folder,
        env=app_environment(),
        stdout=folder / "stdout.log",
        stderr=folder / "stderr.log",
        time_limit=600,
        lifeline=lifeline,
    )


if __name__ == "__main__":
    mechanism: Lifeline = "guard" if sys.argv[1] == "guard" else "pdeathsig"
    asyncio.run(main(mechanism, Path(sys.argv[2])))
