"""What the reliability tests share: compute-style callbacks, jobs to receive them, counts.

A callback here is what Agave posts: the job record (``HEARTBEAT`` with its own
``lastUpdated`` and a ``lastStatusMessage`` naming its place in the job's sequence) to the
jobs-manager, with no ``X-Message-Id``, retried with the same body while it gets no answer or a
503 (Agave's behaviour). Each becomes an ``update`` event; a history is then checked to hold
every sequence number once and in order.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pipelinejobs.application.ledger import history_event
from pipelinejobs.domain.identifiers import UUIDType, typed_uuid
from pipelinejobs.gateway import issue_token
from pipelinejobs.host.bootstrap import build_system
from pipelinejobs.settings import Settings
from pipelinejobs_up import AMQP_URL

__all__ = ["AMQP_URL", "Callbacks", "Tally", "seed_running_jobs"]

SEQUENCE = "beat {n}"


def job_uuid(label: str, n: int) -> str:
    return typed_uuid(f"reliability {label} job {n}", UUIDType.PIPELINEJOB)


def bearer_token(data_dir: Path, user: str = "alice") -> str:
    """A Bearer token signed with the data directory's secrets (made now if missing)."""
    system = build_system(Settings(data_dir=data_dir))
    return issue_token(system.secrets.jwt_secret, user, ttl=3600)


async def seed_running_jobs(data_dir: Path, label: str, count: int) -> dict[str, str]:
    """``count`` RUNNING jobs in the data directory's store; each job's uuid and update token."""
    system = build_system(Settings(data_dir=data_dir))
    await system.store.start()
    tokens: dict[str, str] = {}
    try:
        for n in range(count):
            uuid = job_uuid(label, n)
            events = [history_event(name, {}, domain="sd2e.org") for name in ("create", "run")]
            body = {
                "uuid": uuid,
                "pipeline_uuid": typed_uuid(f"reliability {label}", UUIDType.PIPELINE),
                "archive_path": f"/products/v2/reliability/{label}/{n}",
                "archive_system": "data-sd2e-community",
                "archive_patterns": [],
                "data": {},
                "derived_from": [],
                "generated_by": [],
                "history": events,
                "last_event": "run",
                "state": "RUNNING",
                "session": "reliability",
                "updated": events[-1]["date"],
                "created": events[0]["date"],
            }
            await system.store.create_document("jobs", body, message_id=f"seed-{uuid}")
            tokens[uuid] = system.update_tokens.issue(uuid)
    finally:
        await system.store.close()
    return tokens


def record(uuid: str, n: int) -> dict[str, Any]:
    """Agave's job record for the ``n``-th status of the compute job behind ``uuid``."""
    return {
        "id": f"agave-{uuid}",
        "appId": "reliability-0.1.0",
        "executionSystem": "hpc-reliability",
        "owner": "alice",
        "archivePath": "/products/v2/reliability",
        "archiveSystem": "data-sd2e-community",
        "status": "HEARTBEAT",
        "lastUpdated": f"2026-12-06T05:00:00.{n:03d}-06:00",
        "lastStatusMessage": SEQUENCE.format(n=n),
        "inputs": {},
        "parameters": {},
        "_links": {"self": {"href": f"https://api.example.org/jobs/v2/agave-{uuid}"}},
    }


@dataclass
class Tally:
    sent: int = 0
    """HTTP attempts, retries included."""
    accepted: int = 0
    """Callbacks answered 200 (each counted once, however many attempts it took)."""
    answers: Counter[str] = field(default_factory=Counter)
    """Every attempt's outcome: an HTTP status, or the transport error's name."""
    retry_after: list[str] = field(default_factory=list)
    """The Retry-After header of every 503."""


class Callbacks:
    """Steady callbacks for several jobs, each job's in order, through whatever gateway answers.

    ``url()`` is asked before every attempt, so the gateway may move (be restarted) meanwhile.
    A callback is retried (same body, no X-Message-Id) until it is answered 200; a 4xx fails
    the test at once.
    """

    def __init__(
        self,
        url: Callable[[], str],
        bearer: str,
        tokens: dict[str, str],
        per_job: int,
        *,
        pause: float = 0.02,
        limit: float = 180.0,
    ) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
        self.tokens = tokens
        self.per_job = per_job
        self.pause = pause
        self.limit = limit
        self.tally = Tally()
        self.progress = 0
        """Callbacks accepted so far, over all jobs."""
        self._moved = asyncio.Event()
        self.finished = False

    async def run(self) -> Tally:
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                await asyncio.gather(*(self._job(client, uuid) for uuid in self.tokens))
        finally:
            self.finished = True
            self._moved.set()
        return self.tally

    async def until(self, accepted: int) -> None:
        """Wait until at least ``accepted`` callbacks were accepted."""
        async with asyncio.timeout(self.limit):
            while self.progress < accepted:
                assert not self.finished, f"the callbacks stopped at {self.progress}: {self.tally}"
                self._moved.clear()
                await self._moved.wait()

    async def _job(self, client: httpx.AsyncClient, uuid: str) -> None:
        token = self.tokens[uuid]
        for n in range(self.per_job):
            body = json.dumps(record(uuid, n))
            await self._deliver(client, uuid, token, body)
            self.progress += 1
            self._moved.set()
            await asyncio.sleep(self.pause)

    async def _deliver(self, client: httpx.AsyncClient, uuid: str, token: str, body: str) -> None:
        deadline = time.monotonic() + self.limit
        while True:
            self.tally.sent += 1
            path = f"/actors/v2/jobs-manager/messages?uuid={uuid}&token={token}&status=HEARTBEAT"
            try:
                response = await client.post(self.url() + path, content=body, headers=self.headers)
            except httpx.TransportError as exc:
                self.tally.answers[type(exc).__name__] += 1
            else:
                self.tally.answers[str(response.status_code)] += 1
                if response.status_code == 200:
                    self.tally.accepted += 1
                    return
                assert response.status_code >= 500, response.text  # a refusal is a bug here
                if response.status_code == 503:
                    self.tally.retry_after.append(response.headers.get("Retry-After", ""))
            assert time.monotonic() < deadline, f"callback to {uuid} not accepted in time"
            await asyncio.sleep(0.2)


def beats(history: list[dict[str, Any]]) -> list[int]:
    """The sequence numbers of a job's ``update`` events, in history order."""
    numbers = []
    for event in history:
        if event["name"] == "update":
            message = str(event.get("data", {}).get("lastStatusMessage", ""))
            numbers.append(int(message.removeprefix("beat ")))
    return numbers


async def histories(client: httpx.AsyncClient, uuids: list[str]) -> dict[str, list[int]]:
    found = {}
    for uuid in uuids:
        response = await client.get(f"/jobs/{uuid}")
        assert response.status_code == 200, response.text
        found[uuid] = beats(response.json()["history"])
    return found


async def wait_applied(
    client: httpx.AsyncClient, uuids: list[str], per_job: int, limit: float = 120.0
) -> dict[str, list[int]]:
    """Every job's beats once all ``per_job`` were applied; fails at once on a duplicate or a
    beat out of order, and at ``limit`` on a missing one."""
    deadline = time.monotonic() + limit
    while True:
        found = await histories(client, uuids)
        for uuid, numbers in found.items():
            expected = list(range(len(numbers)))
            assert numbers == expected, f"job {uuid}: beats doubled, lost or reordered: {numbers}"
        if all(len(numbers) == per_job for numbers in found.values()):
            return found
        if time.monotonic() > deadline:
            missing = {u: per_job - len(n) for u, n in found.items() if len(n) < per_job}
            raise AssertionError(f"beats missing after {limit} s: {missing}")
        await asyncio.sleep(0.3)
