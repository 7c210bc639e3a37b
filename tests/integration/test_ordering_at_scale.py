"""10,000 events for 100 jobs through RabbitMQ to consumers that come and go: every history
complete, in publish order, without duplicates (issue 3's acceptance test; issue 13 made the
partitions change hands while the events flow).

Independent systems share one bus namespace and one store (like ``pipelinejobs actor
jobs-manager`` processes); another only publishes. Events go out in batches with pipelined
publisher confirms, as a busy gateway would send them, while two consumers work. As the events
are applied, a third consumer joins, the first one stops, a fourth joins and the second stops:
each arrival and departure moves partitions between consumers in mid-stream. The histories are
checked at every poll, so a duplicate or a reordering fails the test at once, not at the deadline.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid as uuidlib
from collections import Counter
from typing import Any

import pytest
from pipelinejobs.actors.base import ActorContext, Message
from pipelinejobs.actors.jobs_manager import JobsManager
from pipelinejobs.application.ledger import history as stored_history
from pipelinejobs.application.ledger import history_event
from pipelinejobs.bus.port import Envelope
from pipelinejobs.domain.executions import execution_id_for
from pipelinejobs.domain.identifiers import UUIDType, typed_uuid

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

JOBS = 100
EVENTS_PER_JOB = 100
CONSUMERS = 4
PIPELINE = typed_uuid("ordering at scale", UUIDType.PIPELINE)


class CountingJobsManager(JobsManager):
    """The jobs-manager, counting the events this consumer applied."""

    def __init__(self, name: str, counts: Counter[str], **options: Any) -> None:
        super().__init__(**options)
        self._name, self._counts = name, counts

    async def handle(self, message: Message, ctx: ActorContext) -> Any:
        result = await super().handle(message, ctx)
        self._counts[self._name] += 1
        return result


async def create_running_job(system: Any, uuid: str) -> None:
    events = [history_event(name, {}, domain="sd2e.org") for name in ("create", "run")]
    body = {
        "uuid": uuid,
        "pipeline_uuid": PIPELINE,
        "archive_path": f"/products/v2/{uuid}",
        "archive_system": "data-sd2e-community",
        "archive_patterns": [],
        "data": {},
        "history": events,
        "state": "RUNNING",
        "last_event": "run",
        "updated": events[-1]["date"],
    }
    await system.store.create_document("jobs", body, message_id=f"create-{uuid}")


def applied_in_order(histories: dict[str, list[int]]) -> int:
    """The events applied so far; fails at once when a job's history holds an event twice, out
    of order, or after a gap."""
    for job, seqs in histories.items():
        assert seqs == list(range(len(seqs))), f"job {job}: events doubled or reordered: {seqs}"
    return sum(len(seqs) for seqs in histories.values())


async def applied_histories(store: Any) -> dict[str, list[int]]:
    found = {}
    for doc in await store.find_documents("jobs", {}, limit=JOBS):
        history = await stored_history(store, "jobs", doc.uuid)
        found[doc.uuid] = [event["data"]["seq"] for event in history[2:]]
    return found


async def test_ten_thousand_events_keep_per_job_order_while_partitions_change_hands(
    make_system: Any, tmp_path: Any
) -> None:
    namespace = f"test-{uuidlib.uuid4().hex[:12]}"
    shared = {
        "bus": "rabbitmq",
        "data_dir": tmp_path / "shared",
        "bus_namespace": namespace,
        "bus_balance_interval": 0.5,
    }
    publisher = await make_system(aliases=[], **shared)  # publishes, consumes nothing
    applied: Counter[str] = Counter()

    async def consumer(n: int) -> Any:
        return await make_system(
            actors=[CountingJobsManager(f"consumer-{n}", applied, storage=publisher.storage)],
            **shared,
        )

    jobs = [typed_uuid(f"ordering job {n}", UUIDType.PIPELINEJOB) for n in range(JOBS)]
    await asyncio.gather(*(create_running_job(publisher, job) for job in jobs))

    # Interleave the jobs' events, as many senders would; each job's events keep their order.
    envelopes = []
    for seq in range(EVENTS_PER_JOB):
        for job in jobs:
            message_id = f"{job}-{seq}"
            document = {
                "uuid": job,
                "name": "update",
                "token": publisher.update_tokens.issue(job),
                "data": {"seq": seq},
            }
            envelopes.append(
                Envelope(
                    actor="jobs-manager",
                    body=json.dumps(document).encode(),
                    message_id=message_id,
                    partition_key=job,
                    headers={"execution_id": execution_id_for(message_id), "sender": "user:t"},
                )
            )

    async def publish() -> None:
        for start in range(0, len(envelopes), 500):
            await publisher.bus.publish(envelopes[start : start + 500])
            await asyncio.sleep(0.1)

    running = {n: await consumer(n) for n in range(2)}
    publishing = asyncio.create_task(publish())
    # At these counts of applied events, a consumer joins or stops, mid-stream.
    changes = [(1500, "start", 2), (3000, "stop", 0), (4500, "start", 3), (6000, "stop", 1)]
    total = JOBS * EVENTS_PER_JOB
    deadline = time.monotonic() + 600
    done = 0
    while done < total:
        assert time.monotonic() < deadline, f"only {done} events applied"
        done = applied_in_order(await applied_histories(publisher.store))
        while changes and done >= changes[0][0]:
            _, change, n = changes.pop(0)
            if change == "start":
                running[n] = await consumer(n)
            else:
                await running.pop(n).close()  # in-flight handlers finish, partitions move
        await asyncio.sleep(0.3)
    await publishing

    assert changes == [], f"the consumers did not change while events flowed: {changes}"
    for job in jobs:
        stored = await publisher.store.get_document("jobs", job)
        assert stored is not None
        history = await stored_history(publisher.store, "jobs", job)
        assert [event["name"] for event in history[:2]] == ["create", "run"]
        assert [event["data"]["seq"] for event in history[2:]] == list(range(EVENTS_PER_JOB))
        assert stored.version == 2 + EVENTS_PER_JOB
    assert await publisher.bus.dead_letters("jobs-manager") == []
    assert sorted(applied) == [f"consumer-{n}" for n in range(CONSUMERS)], applied
    assert sum(applied.values()) >= JOBS * EVENTS_PER_JOB
