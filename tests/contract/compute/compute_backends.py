"""The two compute services the contract suite runs on, behind one steering interface.

Each backend gives a started :class:`ComputeService` and says how to move a job along: the
Agave client talks to the in-process Agave stand-in, whose jobs move when the test says so
(as a real Agave's move when its scheduler does); the local execution system runs real app
processes, so its jobs move by themselves and the backend waits for them.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Protocol

import httpx
from agave_standin import AgaveStandIn
from pipelinejobs.compute.agave import AgaveClient
from pipelinejobs.compute.local import LocalExecutionSystem, RetryPolicy
from pipelinejobs.compute.port import ComputeService
from pipelinejobs.storage.local import LocalStorage

ARCHIVE_SYSTEM = "data-sd2e-community"
QUICK_APP = "quick-1.0"
"""Writes one file and ends."""
SLEEPING_APP = "sleep-1.0"
"""Runs until it is stopped (ten minutes)."""
APP_MANIFESTS: tuple[dict[str, Any], ...] = (
    {
        "id": QUICK_APP,
        "version": "1.0",
        "command": ["{python}", "-c", "open('done.txt', 'w').write('done')"],
    },
    {
        "id": SLEEPING_APP,
        "version": "1.0",
        "command": ["{python}", "-c", "import time; print('started', flush=True); time.sleep(600)"],
    },
)
LIMIT = 60.0


class ComputeBackend(Protocol):
    """A started compute service and how to move its jobs along."""

    name: str
    service: ComputeService

    async def until_running(self, job_id: str) -> None:
        """Return once the job is RUNNING (it has been submitted, nothing else done)."""

    async def until_ended(self, job_id: str) -> None:
        """Return once a job of :data:`QUICK_APP` has run to its end and said so."""

    async def until_notified(self, job_id: str) -> None:
        """Return once every notification of the ended job has been sent."""

    async def go_down(self) -> None:
        """Make the service unable to take requests for now."""

    async def close(self) -> None: ...


class AgaveBackend:
    """The Agave HTTP client against the stand-in; the test plays the scheduler."""

    name = "agave"

    def __init__(self) -> None:
        self.standin = AgaveStandIn(notifying=True)
        self.standin.apps.update({QUICK_APP, SLEEPING_APP})
        self.service = AgaveClient(
            "https://agave.example.org",
            self.standin.token,
            transport=httpx.ASGITransport(app=self.standin.app),
        )

    async def until_running(self, job_id: str) -> None:
        for status in ("QUEUED", "RUNNING"):
            await self.standin.move(job_id, status)

    async def until_ended(self, job_id: str) -> None:
        for status in ("QUEUED", "RUNNING", "ARCHIVING", "FINISHED"):
            await self.standin.move(job_id, status)

    async def until_notified(self, job_id: str) -> None:
        """The stand-in posts each notification before it answers: nothing is left to wait for."""

    async def go_down(self) -> None:
        self.standin.fail_with.extend([503] * 5)

    async def close(self) -> None:
        await self.service.close()  # type: ignore[attr-defined]


class LocalBackend:
    """The local execution system running real app processes."""

    name = "local"

    def __init__(self, root: Path) -> None:
        apps_dir = root / "apps"
        apps_dir.mkdir()
        for manifest in APP_MANIFESTS:
            (apps_dir / f"{manifest['id']}.json").write_text(json.dumps(manifest))
        self.system = LocalExecutionSystem(
            apps_dir,
            LocalStorage(root / "storage"),
            work_dir=root / "work",
            archive_system_default=ARCHIVE_SYSTEM,
            notify_retry=RetryPolicy(0.05, 0.2, horizon=120),
            max_concurrent_jobs=2,
        )
        self.service = self.system

    async def start(self) -> None:
        await self.system.start()

    async def until_running(self, job_id: str) -> None:
        async with asyncio.timeout(LIMIT):
            while True:  # the process runs on its own; its status is read, not signalled
                if (await self.system.status(job_id)).status == "RUNNING":
                    return
                await asyncio.sleep(0.05)

    async def until_ended(self, job_id: str) -> None:
        async with asyncio.timeout(LIMIT):
            await self.system.wait(job_id)

    async def until_notified(self, job_id: str) -> None:
        async with asyncio.timeout(LIMIT):
            await self.system.wait_notified(job_id)

    async def go_down(self) -> None:
        await self.system.close(grace=0.5)

    async def close(self) -> None:
        await self.system.close(grace=1.0)
