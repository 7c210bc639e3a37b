"""The runtime around any actor: executions, failure classification, follow-ups, redelivery."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
import structlog
from pipelinejobs.actors.base import ActorContext, Message
from pipelinejobs.application.ledger import history as stored_history
from pipelinejobs.application.ledger import history_event, record_job_event
from pipelinejobs.application.submission import submit
from pipelinejobs.domain.derived_ids import follow_up_message_id
from pipelinejobs.domain.executions import execution_id_for
from pipelinejobs.errors import BusUnavailable, InvalidInput, StoreUnavailable, VersionConflict
from pipelinejobs.logs import configure_logging
from settling import dead_letters

pytestmark = pytest.mark.asyncio


class Echo:
    alias: ClassVar[str] = "echo"

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        ctx.log.debug("Action selected: {action}", action="echo")
        ctx.log.info("Issued update token {token}", token="0123456789abcdef")
        return {"document": message.document, "context": dict(message.context)}


class Refuser:
    alias: ClassVar[str] = "refuser"

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        raise InvalidInput("field 'name' is required; send one of: finish, fail")


class Flaky:
    """Fails with a transient error on its first ``failures`` attempts per message."""

    alias: ClassVar[str] = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: dict[str, int] = {}

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        self.calls[message.message_id] = self.calls.get(message.message_id, 0) + 1
        if self.calls[message.message_id] <= self.failures:
            raise StoreUnavailable("store timed out")
        return {"calls": self.calls[message.message_id]}


class StumblesOnce:
    """Applies messages in the order it gets them; the store fails the first one once."""

    alias: ClassVar[str] = "stumbler"

    def __init__(self) -> None:
        self.applied: list[int] = []
        self.stumbled = False

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        seq = int(message.document["seq"])
        if seq == 0 and not self.stumbled:
            self.stumbled = True
            raise StoreUnavailable("store timed out")
        self.applied.append(seq)
        return None


class Crasher:
    alias: ClassVar[str] = "crasher"

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        raise RuntimeError("bug in handler")


class LosesOneRace:
    alias: ClassVar[str] = "racer"

    def __init__(self) -> None:
        self.runs = 0

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        self.runs += 1
        if self.runs == 1:
            raise VersionConflict("someone else wrote first")
        return {"runs": self.runs}


class Forwarder:
    """Records a job event, then asks the recorder to record another (a follow-up)."""

    alias: ClassVar[str] = "forwarder"

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        uuid = message.document["uuid"]
        await record_job_event(
            ctx.store, uuid, "run", {}, message_id=ctx.message_id, domain="sd2e.org"
        )
        ctx.send("recorder", {"uuid": uuid, "name": "update"}, partition_key=uuid)
        return None


class Recorder:
    alias: ClassVar[str] = "recorder"

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        doc = message.document
        recorded = await record_job_event(
            ctx.store,
            doc["uuid"],
            doc["name"],
            doc.get("data"),
            message_id=ctx.message_id,
            domain="sd2e.org",
        )
        return {"applied": recorded.applied, "version": recorded.document.version}


JOB = "107acb4d-1f93-553a-9e1c-b7b58125bc89"


async def create_job(store: Any, uuid: str = JOB) -> None:
    body = {
        "uuid": uuid,
        "pipeline_uuid": "106acb4d-1f93-553a-9e1c-b7b58125bc89",
        "state": "CREATED",
        "last_event": "create",
        "updated": "2026-01-01T00:00:00.000Z",
        "history": [history_event("create", {}, domain="sd2e.org")],
    }
    await store.create_document("jobs", body, message_id=f"create-{uuid}")


async def test_execution_completes_with_result_and_log_lines(make_system, bus_backend):
    system = await make_system(bus=bus_backend, actors=[Echo()])
    eid = await system.send("echo", {"a": 1}, context={"uuid": JOB})
    execution = await system.wait(eid)
    assert execution["status"] == "COMPLETE"
    assert execution["result"] == {"document": {"a": 1}, "context": {"uuid": JOB}}
    assert execution["started"]
    assert execution["finished"]
    assert any(line.endswith("DEBUG Action selected: echo") for line in execution["logs"])
    # the sender's execution log keeps the token it was issued
    assert any("0123456789abcdef" in line for line in execution["logs"])


async def test_process_log_redacts_secrets(make_system, capsys):
    system = await make_system(actors=[Echo()])
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging("DEBUG", json_lines=True)
    try:
        await system.wait(await system.send("echo", {"a": 1}))
    finally:
        structlog.reset_defaults()
        root.handlers, root.level = handlers, level
    err = capsys.readouterr().err
    assert "Issued update token" in err
    assert "0123456789abcdef" not in err


async def test_permanent_error_ends_in_error_and_dead_letter(make_system, bus_backend):
    system = await make_system(bus=bus_backend, actors=[Refuser()])
    eid = await system.send("refuser", {"uuid": JOB})
    execution = await system.wait(eid)
    assert execution["status"] == "ERROR"
    assert "field 'name' is required" in execution["error"]
    dead = await dead_letters(system.bus, "refuser")
    assert len(dead) == 1
    assert "field 'name' is required" in dead[0].reason
    assert json.loads(dead[0].envelope.body) == {"uuid": JOB}


async def test_malformed_body_is_refused_not_crashed(make_system, bus_backend):
    system = await make_system(bus=bus_backend, actors=[Echo()])
    eid = await system.send("echo", body=b'{"uuid": ', content_type="application/json")
    execution = await system.wait(eid)
    assert execution["status"] == "ERROR"
    assert "JSON" in execution["error"]
    assert len(await dead_letters(system.bus, "echo")) == 1
    # the consumer survives and handles the next message
    ok = await system.wait(await system.send("echo", {"b": 2}))
    assert ok["status"] == "COMPLETE"


async def test_transient_errors_retry_with_backoff_then_complete(make_system, bus_backend):
    flaky = Flaky(failures=2)
    system = await make_system(bus=bus_backend, actors=[flaky])
    execution = await system.wait(await system.send("flaky", {"x": 1}))
    assert execution["status"] == "COMPLETE"
    assert execution["result"] == {"calls": 3}
    assert sum("retrying in" in line for line in execution["logs"]) == 2


async def test_a_transient_failure_keeps_the_order_of_a_jobs_messages(make_system, bus_backend):
    stumbler = StumblesOnce()
    system = await make_system(bus=bus_backend, actors=[stumbler])
    sent = [await system.send("stumbler", {"uuid": JOB, "seq": seq}) for seq in range(5)]

    for execution_id in sent:
        assert (await system.wait(execution_id))["status"] == "COMPLETE"
    assert stumbler.applied == [0, 1, 2, 3, 4]


async def test_transient_errors_are_not_limited_by_the_attempts_for_defects(make_system):
    flaky = Flaky(failures=4)
    system = await make_system(actors=[flaky], retry_max_attempts=2)

    execution = await system.wait(await system.send("flaky", {"x": 1}))

    assert execution["status"] == "COMPLETE"
    assert execution["result"] == {"calls": 5}


async def test_retries_are_bounded_then_dead_lettered(make_system):
    system = await make_system(actors=[Crasher()], retry_max_attempts=3)
    execution = await system.wait(await system.send("crasher", {"x": 1}))
    assert execution["status"] == "ERROR"
    assert "internal error: RuntimeError: bug in handler" in execution["error"]
    assert "gave up after 3 attempts" in execution["error"]
    assert len(await dead_letters(system.bus, "crasher")) == 1


async def test_lost_race_reruns_the_handler(make_system):
    racer = LosesOneRace()
    system = await make_system(actors=[racer])
    execution = await system.wait(await system.send("racer", {}))
    assert execution["status"] == "COMPLETE"
    assert execution["result"] == {"runs": 2}


async def test_a_follow_up_lost_with_the_broker_is_sent_again_and_applied_once(
    make_system, bus_backend, monkeypatch
):
    system = await make_system(bus=bus_backend, actors=[Forwarder(), Recorder()])
    await create_job(system.store)
    publish, lost = system.bus.publish, []

    async def loses_the_first_follow_up(envelopes: Any) -> None:
        if not lost and any(e.actor == "recorder" for e in envelopes):
            lost.append(envelopes)
            raise BusUnavailable("RabbitMQ did not confirm messages within 30 s")
        await publish(envelopes)

    monkeypatch.setattr(system.bus, "publish", loses_the_first_follow_up)
    await submit(
        system.store,
        system.bus,
        "forwarder",
        body=json.dumps({"uuid": JOB}).encode(),
        message_id="m-1",
    )
    forwarded = await system.wait(execution_id_for("m-1"))

    assert forwarded["status"] == "COMPLETE"
    assert lost, "the follow-up publish was never attempted"
    assert sum("retrying in" in line for line in forwarded["logs"]) == 1
    follow_up = await system.wait(execution_id_for(follow_up_message_id("m-1", 1)))
    assert follow_up["status"] == "COMPLETE"
    job = await system.store.get_document("jobs", JOB)
    assert job is not None
    events = await stored_history(system.store, "jobs", JOB)
    assert [event["name"] for event in events] == ["create", "run", "update"]


async def test_a_message_whose_confirm_was_lost_ends_complete_without_the_stale_error(
    make_system, bus_backend, monkeypatch
):
    system = await make_system(bus=bus_backend, actors=[Echo()])
    publish = system.bus.publish

    async def delivered_but_unconfirmed(envelopes: Any) -> None:
        await publish(envelopes)
        raise BusUnavailable("RabbitMQ did not confirm messages within 30 s")

    monkeypatch.setattr(system.bus, "publish", delivered_but_unconfirmed)
    with pytest.raises(BusUnavailable):
        await system.send("echo", {"a": 1}, message_id="m-lost-confirm")
    execution_id = execution_id_for("m-lost-confirm")

    # The sender was told 'not accepted', but the broker had the message: the actor's outcome
    # is what the record ends with, whichever of the two writes came first.
    async with asyncio.timeout(30):
        while (execution := await system.store.get_execution(execution_id))["status"] != "COMPLETE":
            assert execution["status"] in ("SUBMITTED", "RUNNING", "ERROR")
            await asyncio.sleep(0.02)

    assert execution.get("error") is None
    assert execution["result"]["document"] == {"a": 1}
