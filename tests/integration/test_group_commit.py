"""Group commit: the deliveries waiting in a partition are applied in one transaction.

The consumer takes the delivery in hand and those already waiting behind it (up to the
prefetch), the runtime applies them all (events, projections, execution records) in one store
unit of work, commits once, publishes the follow-ups, then settles them. Commits are counted
through the SQLite store's fault-injection hook, which is called with ``"committing"`` just
before each commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
from pipelinejobs.actors.base import ActorContext, Message
from pipelinejobs.application.ledger import history as stored_history
from pipelinejobs.application.ledger import record_job_event
from pipelinejobs.errors import InvalidInput
from test_runtime import JOB, create_job

pytestmark = pytest.mark.asyncio

MESSAGES = 8


class Updater:
    """Records one job event per message; refuses the messages marked poison."""

    alias: ClassVar[str] = "updater"

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        doc = message.document
        if doc.get("poison"):
            raise InvalidInput("field 'name' is required; send one of: update")
        await record_job_event(
            ctx.store,
            doc["uuid"],
            "update",
            {"seq": doc["seq"]},
            message_id=ctx.message_id,
            domain="sd2e.org",
        )
        return {"seq": doc["seq"]}


class Crash(Exception):
    """The process dying at a chosen point."""


async def queued(system: Any, documents: list[dict[str, Any]]) -> list[str]:
    """Send every document while nothing consumes, so they all wait in one partition."""
    return [await system.send("updater", document) for document in documents]


async def consume_and_wait(system: Any, execution_ids: list[str]) -> list[dict[str, Any]]:
    await system.runtime.start(["updater"])
    return [await system.wait(execution_id) for execution_id in execution_ids]


def updates(n: int) -> list[dict[str, Any]]:
    return [{"uuid": JOB, "seq": seq} for seq in range(n)]


async def test_deliveries_waiting_in_a_partition_are_applied_with_one_commit(make_system):
    system = await make_system(actors=[Updater()], aliases=[])
    await create_job(system.store)
    sent = await queued(system, updates(MESSAGES))
    points: list[str] = []
    system.store.fault_injector = points.append

    executions = await consume_and_wait(system, sent)

    assert [e["status"] for e in executions] == ["COMPLETE"] * MESSAGES
    assert points.count("committing") == 1
    assert points.count("event-written") == MESSAGES
    events = await stored_history(system.store, "jobs", JOB)
    assert [e["data"]["seq"] for e in events[1:]] == list(range(MESSAGES))


async def test_deliveries_waiting_on_rabbitmq_share_commits(make_system):
    """On RabbitMQ the prefetched deliveries reach the consumer in bursts: fewer commits than
    messages (each message alone costs several)."""
    pytest.importorskip("aio_pika")
    system = await make_system(bus="rabbitmq", actors=[Updater()], aliases=[])
    await create_job(system.store)
    sent = await queued(system, updates(MESSAGES))
    points: list[str] = []
    system.store.fault_injector = points.append

    executions = await consume_and_wait(system, sent)

    assert [e["status"] for e in executions] == ["COMPLETE"] * MESSAGES
    assert points.count("committing") < MESSAGES


test_deliveries_waiting_on_rabbitmq_share_commits = pytest.mark.rabbitmq(
    test_deliveries_waiting_on_rabbitmq_share_commits
)


async def test_a_poison_message_in_a_batch_is_dead_lettered_alone(make_system):
    system = await make_system(actors=[Updater()], aliases=[])
    await create_job(system.store)
    documents = updates(5)
    documents[2]["poison"] = True
    sent = await queued(system, documents)
    points: list[str] = []
    system.store.fault_injector = points.append

    executions = await consume_and_wait(system, sent)

    assert [e["status"] for e in executions] == ["COMPLETE"] * 2 + ["ERROR"] + ["COMPLETE"] * 2
    assert "field 'name' is required" in executions[2]["error"]
    assert points.count("committing") == 1  # the neighbours applied in the same batch
    for _ in range(100):
        if await system.bus.dead_letters("updater"):
            break
        await asyncio.sleep(0.02)
    [dead] = await system.bus.dead_letters("updater")
    assert dead.envelope.message_id == executions[2]["message_id"]
    events = await stored_history(system.store, "jobs", JOB)
    assert [e["data"]["seq"] for e in events[1:]] == [0, 1, 3, 4]


async def test_a_crash_before_the_batch_commits_loses_nothing_and_doubles_nothing(make_system):
    system = await make_system(actors=[Updater()], aliases=[])
    await create_job(system.store)
    sent = await queued(system, updates(MESSAGES))
    written_before_crash: list[int] = []
    points: list[str] = []

    def crash_at_the_first_commit(point: str) -> None:
        points.append(point)
        if point == "committing" and not written_before_crash:
            written_before_crash.append(points.count("event-written"))
            raise Crash("killed before the commit")

    system.store.fault_injector = crash_at_the_first_commit

    executions = await consume_and_wait(system, sent)

    assert written_before_crash == [MESSAGES]  # the whole batch was in the lost transaction
    assert [e["status"] for e in executions] == ["COMPLETE"] * MESSAGES
    events = await stored_history(system.store, "jobs", JOB)
    assert [e["data"]["seq"] for e in events[1:]] == list(range(MESSAGES))
    assert await system.bus.dead_letters("updater") == []
