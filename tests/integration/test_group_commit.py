"""Group commit: the deliveries waiting in a partition are decided together and written with
one ``Store.commit``, then settled; a failed commit loses nothing and doubles nothing.

Commits are counted by wrapping ``commit`` and ``append_event`` on the system's store instance
(the runtime's batches write through ``commit``; a delivery applied on its own appends through
``append_event``). Deliveries are queued while nothing consumes the actor, so they wait in one
partition (one job) and reach the runtime together.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar

import pytest
from pipelinejobs.actors.base import ActorContext, Message
from pipelinejobs.application.ledger import history as stored_history
from pipelinejobs.application.ledger import record_job_event
from pipelinejobs.bus.port import Envelope
from pipelinejobs.domain.executions import execution_id_for
from pipelinejobs.errors import InvalidInput, StoreUnavailable
from pipelinejobs.store.port import AppendEvent, UnitWrite
from pipelinejobs.store.sqlite import SQLiteStore
from test_runtime import JOB, create_job

pytestmark = pytest.mark.asyncio

MESSAGES = 8


class Updater:
    """Records one ``update`` event per message; refuses the messages marked ``poison``; reads
    the job's history through the store first for the messages marked ``reads`` (an operation
    a batch does not hold, as the indexer's file lookups or a job creation); finds the store
    unavailable on the first attempt of the messages marked ``stumbles``."""

    alias: ClassVar[str] = "updater"

    def __init__(self) -> None:
        self.stumbled: set[str] = set()

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        doc = message.document
        if doc.get("poison"):
            raise InvalidInput("field 'name' is required; send one of: update")
        if doc.get("stumbles") and message.message_id not in self.stumbled:
            self.stumbled.add(message.message_id)
            raise StoreUnavailable("store timed out")
        if doc.get("reads"):
            await ctx.store.read_events("jobs", doc["uuid"])
        await record_job_event(
            ctx.store,
            doc["uuid"],
            "update",
            {"seq": doc["seq"]},
            message_id=ctx.message_id,
            domain="sd2e.org",
        )
        return {"seq": doc["seq"]}


class Gated:
    """Records its event, then waits for the test to open the gate."""

    alias: ClassVar[str] = "gated"

    def __init__(self) -> None:
        self.waiting = asyncio.Event()
        self.gate = asyncio.Event()

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        await record_job_event(
            ctx.store, JOB, "update", {}, message_id=ctx.message_id, domain="sd2e.org"
        )
        self.waiting.set()
        await self.gate.wait()
        return None


class Commits:
    """Counts the store's commits (with the appends each carried) and single appends."""

    def __init__(self, store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.units: list[int] = []
        self.appends = 0
        self.before_commit: Callable[[int], Awaitable[None]] | None = None
        commit, append_event = store.commit, store.append_event

        async def counted_commit(writes: Sequence[UnitWrite]) -> None:
            self.units.append(sum(isinstance(write, AppendEvent) for write in writes))
            if self.before_commit is not None:
                await self.before_commit(len(self.units))
            await commit(writes)

        async def counted_append(*args: Any, **kwargs: Any) -> Any:
            self.appends += 1
            return await append_event(*args, **kwargs)

        monkeypatch.setattr(store, "commit", counted_commit)
        monkeypatch.setattr(store, "append_event", counted_append)


def updates(n: int) -> list[dict[str, Any]]:
    return [{"uuid": JOB, "seq": seq} for seq in range(n)]


async def queued(system: Any, documents: list[dict[str, Any]]) -> list[str]:
    """Send every document while nothing consumes, so they all wait in one partition."""
    return [await system.send("updater", document) for document in documents]


async def consume_and_wait(system: Any, alias: str, execution_ids: list[str]) -> list[Any]:
    """Consume until the last message is settled; then each message before it has its final
    record too, if it ever will (a partition is handled in order)."""
    await system.runtime.start([alias])
    await system.wait(execution_ids[-1])
    return [await system.store.get_execution(execution_id) for execution_id in execution_ids]


async def seqs(system: Any) -> list[Any]:
    """The job's events after its creation: each ``update``'s seq, any other event's name."""
    events = await stored_history(system.store, "jobs", JOB)
    return [e["data"].get("seq", e["name"]) for e in events[1:]]


async def test_deliveries_waiting_in_a_partition_are_applied_with_one_commit(
    make_system, monkeypatch
):
    system = await make_system(actors=[Updater()], aliases=[])
    await create_job(system.store)
    sent = await queued(system, updates(MESSAGES))
    commits = Commits(system.store, monkeypatch)

    executions = await consume_and_wait(system, "updater", sent)

    assert [e["status"] for e in executions] == ["COMPLETE"] * MESSAGES
    assert [e["result"] for e in executions] == [{"seq": seq} for seq in range(MESSAGES)]
    assert commits.units == [MESSAGES]
    assert commits.appends == 0
    assert await seqs(system) == list(range(MESSAGES))
    assert await system.bus.dead_letters("updater") == []


@pytest.mark.rabbitmq
async def test_deliveries_waiting_on_rabbitmq_share_commits(make_system, monkeypatch):
    """The broker sends the prefetched deliveries in bursts: fewer commits than messages (a
    delivery applied on its own is a commit of its own)."""
    messages = 32
    system = await make_system(bus="rabbitmq", actors=[Updater()], aliases=[])
    await create_job(system.store)
    sent = await queued(system, updates(messages))
    commits = Commits(system.store, monkeypatch)

    executions = await consume_and_wait(system, "updater", sent)

    assert [e["status"] for e in executions] == ["COMPLETE"] * messages
    assert sum(commits.units) + commits.appends == messages  # each event written once
    assert len(commits.units) + commits.appends < messages  # batches, and any alone
    assert await seqs(system) == list(range(messages))


async def test_a_poison_message_is_refused_alone_and_its_neighbours_apply_in_the_same_commit(
    make_system, monkeypatch
):
    system = await make_system(actors=[Updater()], aliases=[])
    await create_job(system.store)
    documents = updates(5)
    documents[2]["poison"] = True
    sent = await queued(system, documents)
    commits = Commits(system.store, monkeypatch)

    executions = await consume_and_wait(system, "updater", sent)

    assert [e["status"] for e in executions] == ["COMPLETE"] * 2 + ["ERROR"] + ["COMPLETE"] * 2
    assert "field 'name' is required" in executions[2]["error"]
    assert any("Message refused" in line for line in executions[2]["logs"])
    assert commits.units == [4]
    assert commits.appends == 0
    # The batch is settled (acked, dead-lettered) before the partition's next delivery.
    await system.wait(await system.send("updater", {"uuid": JOB, "seq": 5}))
    [dead] = await system.bus.dead_letters("updater")
    assert dead.envelope.message_id == executions[2]["message_id"]
    assert json.loads(dead.envelope.body)["seq"] == 2
    assert await seqs(system) == [0, 1, 3, 4, 5]


@pytest.mark.parametrize("reads_at", [None, 3], ids=["at-the-end", "mid-batch"])
async def test_a_commit_the_store_fails_loses_nothing_and_doubles_nothing(
    make_system, monkeypatch, reads_at
):
    """The store is unavailable for the batch's first commit: at its end, or mid-batch, when a
    handler's read (not held by the batch) writes what the messages before it decided."""
    system = await make_system(actors=[Updater()], aliases=[])
    await create_job(system.store)
    documents = updates(MESSAGES)
    if reads_at is not None:
        documents[reads_at]["reads"] = True
    sent = await queued(system, documents)
    commits = Commits(system.store, monkeypatch)

    async def unavailable_once(number: int) -> None:
        if number == 1:
            raise StoreUnavailable("SQLite store failed: disk I/O error")

    commits.before_commit = unavailable_once

    executions = await consume_and_wait(system, "updater", sent)

    assert commits.units == [MESSAGES if reads_at is None else reads_at]  # what was lost
    assert commits.appends == MESSAGES  # then applied one at a time
    assert [e["status"] for e in executions] == ["COMPLETE"] * MESSAGES
    assert await seqs(system) == list(range(MESSAGES))
    assert await system.bus.dead_letters("updater") == []


@pytest.mark.parametrize("reads_at", [None, 3], ids=["at-the-end", "mid-batch"])
async def test_a_commit_that_lost_a_race_is_applied_again_on_fresh_state(
    make_system, monkeypatch, reads_at
):
    """Another writer appends to the job between the handlers' decisions and the commit: the
    commit fails, and every message is applied once, after the other writer's event."""
    system = await make_system(actors=[Updater()], aliases=[])
    await create_job(system.store)
    documents = updates(MESSAGES)
    if reads_at is not None:
        documents[reads_at]["reads"] = True
    sent = await queued(system, documents)
    store = system.store
    commits = Commits(store, monkeypatch)

    async def another_writer_first(number: int) -> None:
        if number == 1:
            await record_job_event(store, JOB, "run", {}, message_id="foreign", domain="sd2e.org")

    commits.before_commit = another_writer_first

    executions = await consume_and_wait(system, "updater", sent)

    assert commits.units == [MESSAGES if reads_at is None else reads_at]
    assert commits.appends == 1 + MESSAGES  # the other writer's, then one at a time
    assert [e["status"] for e in executions] == ["COMPLETE"] * MESSAGES
    assert await seqs(system) == ["run", *range(MESSAGES)]
    assert await system.bus.dead_letters("updater") == []


async def test_no_write_lock_is_held_while_a_batch_handler_awaits(make_system):
    """Decide first, write after: another process on the same SQLite file writes while a
    handler of a batch, whose event is decided, waits for something else."""
    gated = Gated()
    system = await make_system(actors=[gated], aliases=[])
    assert isinstance(system.store, SQLiteStore)
    await create_job(system.store)
    sent = await system.send("gated", {"uuid": JOB})
    other = SQLiteStore(system.store.path, busy_timeout=0.5)
    await other.start()
    try:
        await system.runtime.start(["gated"])
        async with asyncio.timeout(30):
            await gated.waiting.wait()

        await other.save_execution({"id": "exec-other-process", "status": "SUBMITTED"})
        await other.record_consumed("jobs", JOB, "m-other-process")

        assert (await system.store.get_execution(sent))["status"] != "COMPLETE"
        gated.gate.set()
        execution = await system.wait(sent)
    finally:
        gated.gate.set()
        await other.close()
    assert execution["status"] == "COMPLETE"
    assert await system.store.get_execution("exec-other-process") is not None
    assert await seqs(system) == ["update"]


async def test_a_message_to_retry_ends_the_batch_and_is_retried_in_place(make_system, monkeypatch):
    """Follow-ups reach an actor straight from the bus, with no execution record yet: the one
    to retry gets its record and the retry's log line, and the job's order holds."""
    system = await make_system(actors=[Updater()], aliases=[])
    await create_job(system.store)
    documents = updates(5)
    documents[2]["stumbles"] = True
    envelopes = [
        Envelope(
            actor="updater",
            body=json.dumps(document).encode(),
            message_id=f"follow-up-{document['seq']}",
            partition_key=JOB,
        )
        for document in documents
    ]
    await system.bus.publish(envelopes)
    sent = [execution_id_for(envelope.message_id) for envelope in envelopes]
    commits = Commits(system.store, monkeypatch)

    executions = await consume_and_wait(system, "updater", sent)

    assert [e["status"] for e in executions] == ["COMPLETE"] * 5
    assert commits.units[0] == 2  # the two before it, in one commit
    assert [sum("retrying in" in line for line in e["logs"]) for e in executions] == [
        0,
        0,
        1,
        0,
        0,
    ]
    assert executions[2]["attempts"] == 2
    assert await seqs(system) == list(range(5))
