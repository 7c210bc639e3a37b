"""The pipelines-manager through the runtime: register, update and retire pipelines."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from typing import Any

import pytest
from pipelinejobs.actors.pipelines_manager import PipelinesManager
from pipelinejobs.application.ledger import history as stored_history
from pipelinejobs.application.ledger import record_pipeline_event
from pipelinejobs.application.submission import submit
from pipelinejobs.domain.identifiers import UUIDType, pipeline_uuid, uuid_type
from pipelinejobs.host.bootstrap import System
from pipelinejobs.store.port import StoredDocument
from settling import dead_letters

WAIT_LIMIT = 30.0
"""Seconds to wait for a redelivery before the test fails (a guard, not a timing check)."""
ALIAS = "pipelines-manager"
TACOBOT: dict[str, Any] = {
    "name": "Tacobot 9001",
    "description": "Creates even better breakfast tacos out of silicon, ozone, and shredded GPUs",
    "components": [
        {"id": "e1LqaqMyqq4xB", "opts": {"cheese": True, "salsa": True, "eggs": False}},
        {"id": "bbq-brisket-0.5.0", "parameters": {"smoke": True, "quantity": 4}},
    ],
    "processing_levels": ["1"],
    "accepts": ["CSV"],
    "produces": ["PNG"],
}
TACOBOT_UUID = pipeline_uuid(TACOBOT["components"])


def tacobot(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(TACOBOT), **changes}


async def start(make_system: Any, bus: str = "embedded") -> System:
    system: System = await make_system(bus=bus, actors=[PipelinesManager()])
    return system


async def run(system: System, document: Any, **context: str) -> dict[str, Any]:
    return await system.wait(await system.send(ALIAS, document, context=context or None))


async def register(system: System) -> tuple[str, str]:
    execution = await run(system, tacobot())
    assert execution["status"] == "COMPLETE", execution["error"]
    return execution["result"]["uuid"], execution["result"]["token"]


async def stored(system: System, uuid: str = TACOBOT_UUID) -> StoredDocument:
    document = await system.store.get_document("pipelines", uuid)
    assert document is not None
    return document


def logged(execution: dict[str, Any], level: str, text: str) -> bool:
    """Whether the execution log has ``text`` as the message of a line at ``level``."""
    return any(line.endswith(f" {level} {text}") for line in execution["logs"])


async def refused(system: System, execution: dict[str, Any]) -> str:
    """The reason of a refused message, checked to be on the execution and the dead letter."""
    assert execution["status"] == "ERROR", execution["result"]
    reasons = [dead.reason for dead in await dead_letters(system.bus, ALIAS)]
    assert execution["error"] in reasons
    return str(execution["error"])


async def test_documented_tacobot_pipeline_is_registered(
    make_system: Any, bus_backend: str
) -> None:
    system = await start(make_system, bus_backend)

    execution = await run(system, tacobot(__options={"dry_run": False}))

    assert execution["status"] == "COMPLETE", execution["error"]
    token = system.update_tokens.issue(TACOBOT_UUID)
    assert execution["result"] == {"uuid": TACOBOT_UUID, "token": token}
    assert uuid_type(TACOBOT_UUID) is UUIDType.PIPELINE
    assert logged(execution, "DEBUG", "Action selected: create")
    assert logged(execution, "INFO", f"Created pipeline {TACOBOT_UUID} with update token {token}")
    body = (await stored(system)).body
    fields = {**TACOBOT, "collections_levels": []}
    assert {key: body[key] for key in fields} == fields
    assert "pipeline_type" not in body
    assert "__options" not in body
    assert (body["state"], body["last_event"], body["owner"]) == ("ACTIVE", "create", "user:local")
    [create] = await stored_history(system.store, "pipelines", body["uuid"])
    assert (create["name"], create["data"]) == ("create", fields)
    assert uuid_type(create["uuid"]) is UUIDType.PIPELINEJOB_EVENT


async def test_schema_defaults_are_filled_in(make_system: Any) -> None:
    system = await start(make_system)
    components = [{"id": "minimal-app"}]

    execution = await run(system, {"name": "Minimal", "components": components})

    assert execution["status"] == "COMPLETE", execution["error"]
    body = (await stored(system, pipeline_uuid(components))).body
    assert (body["accepts"], body["produces"]) == (["*"], ["*"])
    assert (body["processing_levels"], body["collections_levels"]) == ([], [])


async def test_name_and_description_do_not_change_the_uuid(make_system: Any) -> None:
    system = await start(make_system)
    renamed = tacobot(name="Tacobot 9002", description="other", accepts=["TSV"])

    execution = await run(system, renamed)

    assert execution["result"]["uuid"] == TACOBOT_UUID


async def test_same_components_from_another_message_conflict_without_revealing_the_token(
    make_system: Any, bus_backend: str
) -> None:
    system = await start(make_system, bus_backend)
    uuid, token = await register(system)

    execution = await run(system, tacobot(name="Tacobot 9001 copy"))

    reason = await refused(system, execution)
    assert f"a pipeline with these components already exists: {uuid}" in reason
    assert "send an update with its token" in reason
    assert token not in reason
    assert token not in "\n".join(execution["logs"])
    body = (await stored(system)).body
    assert body["name"] == "Tacobot 9001"
    assert [
        event["name"] for event in (await stored_history(system.store, "pipelines", body["uuid"]))
    ] == ["create"]


async def test_same_message_delivered_twice_creates_one_pipeline_and_replies_the_same(
    make_system: Any, bus_backend: str
) -> None:
    system = await start(make_system, bus_backend)
    body = json.dumps(tacobot()).encode()

    for _ in range(2):
        execution_id = await submit(
            system.store, system.bus, ALIAS, body=body, sender="user:local", message_id="m-taco"
        )
    execution = await wait_for_lines(system, execution_id, "Created pipeline", count=2)

    assert execution["status"] == "COMPLETE", execution["error"]
    token = system.update_tokens.issue(TACOBOT_UUID)
    assert execution["result"] == {"uuid": TACOBOT_UUID, "token": token}
    assert [
        event["name"] for event in await stored_history(system.store, "pipelines", TACOBOT_UUID)
    ] == ["create"]
    assert await system.store.count_documents("pipelines") == 1
    assert await system.bus.dead_letters(ALIAS) == []


async def test_update_action_changes_the_given_fields(make_system: Any, bus_backend: str) -> None:
    system = await start(make_system, bus_backend)
    uuid, token = await register(system)
    changes = {"name": "Tacobot 9002", "accepts": ["CSV"], "pipeline_type": "secondary-etl"}

    execution = await run(
        system, {"uuid": uuid, "action": "update", "body": changes, "token": token}
    )

    assert execution["status"] == "COMPLETE", execution["error"]
    assert execution["result"] == {
        "uuid": uuid,
        "updated": ["name", "pipeline_type"],
        "token": token,
    }
    assert logged(execution, "DEBUG", "Action selected: update")
    assert logged(execution, "INFO", f"Updated pipeline {uuid} with update token {token}")
    body = (await stored(system)).body
    assert (body["name"], body["pipeline_type"], body["description"]) == (
        "Tacobot 9002",
        "secondary-etl",
        TACOBOT["description"],
    )
    assert body["last_event"] == "update"
    update = (await stored_history(system.store, "pipelines", body["uuid"]))[-1]
    assert (update["name"], update["data"]) == (
        "update",
        {"name": "Tacobot 9002", "pipeline_type": "secondary-etl"},
    )


async def test_update_by_document_with_token_url_parameter(
    make_system: Any, bus_backend: str
) -> None:
    """``abaco run -m "$(jq -c . my_pipeline.json)" -q token=...`` from the documentation."""
    system = await start(make_system, bus_backend)
    uuid, token = await register(system)
    edited = tacobot(description="Now with more salsa", produces=["PNG", "JPEG"])

    execution = await run(system, edited, token=token)

    assert execution["status"] == "COMPLETE", execution["error"]
    assert execution["result"]["updated"] == ["description", "produces"]
    assert logged(execution, "DEBUG", "Action selected: update")
    assert logged(execution, "INFO", f"Updated pipeline {uuid} with update token {token}")
    body = (await stored(system)).body
    assert (body["description"], body["produces"]) == ("Now with more salsa", ["PNG", "JPEG"])
    assert (await stored_history(system.store, "pipelines", body["uuid"]))[-1]["data"] == {
        "description": "Now with more salsa",
        "produces": ["PNG", "JPEG"],
    }


async def test_update_with_an_admin_token_does_not_reveal_the_update_token(
    make_system: Any,
) -> None:
    system = await start(make_system)
    uuid, token = await register(system)
    admin = system.admin_tokens.issue(time.time())

    execution = await run(
        system, {"uuid": uuid, "action": "update", "body": {"name": "Renamed"}, "token": admin}
    )

    assert execution["status"] == "COMPLETE", execution["error"]
    assert execution["result"] == {"uuid": uuid, "updated": ["name"]}
    assert logged(execution, "INFO", f"Updated pipeline {uuid} with an admin token")
    assert token not in "\n".join(execution["logs"])
    assert (await stored(system)).body["name"] == "Renamed"


def expired_admin(system: System) -> str:
    """An admin token issued long enough ago that it no longer verifies."""
    return system.admin_tokens.issue(time.time() - 10 * system.admin_tokens.lifetime)


async def test_redelivered_admin_update_and_retire_whose_token_expired_are_answered(
    make_system: Any, bus_backend: str
) -> None:
    system = await start(make_system, bus_backend)
    uuid, token = await register(system)
    stale = expired_admin(system)
    changes = {"name": "Renamed"}
    # the first deliveries got this far before their acks were lost
    await record_pipeline_event(
        system.store,
        await stored(system),
        "update",
        changes,
        changes,
        message_id="m-update",
        domain=system.settings.uuid_domain,
    )
    await record_pipeline_event(
        system.store,
        await stored(system),
        "retire",
        {},
        {"state": "RETIRED"},
        message_id="m-retire",
        domain=system.settings.uuid_domain,
    )

    executions = []
    for message_id, document in (
        ("m-update", {"uuid": uuid, "action": "update", "body": changes, "token": stale}),
        ("m-retire", {"uuid": uuid, "action": "retire", "token": stale}),
    ):
        execution_id = await submit(
            system.store,
            system.bus,
            ALIAS,
            body=json.dumps(document).encode(),
            message_id=message_id,
        )
        executions.append(await system.wait(execution_id))

    update, retire = executions
    assert update["status"] == "COMPLETE", update["error"]
    assert update["result"] == {"uuid": uuid, "updated": ["name"]}
    assert token not in "\n".join(update["logs"])
    assert retire["status"] == "COMPLETE", retire["error"]
    assert retire["result"] == {"uuid": uuid, "state": "RETIRED"}
    body = (await stored(system)).body
    assert [
        event["name"] for event in (await stored_history(system.store, "pipelines", body["uuid"]))
    ] == ["create", "update", "retire"]
    assert await system.bus.dead_letters(ALIAS) == []


async def test_a_new_update_with_an_expired_admin_token_is_refused_and_nothing_written(
    make_system: Any,
) -> None:
    system = await start(make_system)
    uuid, _ = await register(system)
    before = await stored(system)

    execution = await run(
        system,
        {"uuid": uuid, "action": "update", "body": {"name": "x"}, "token": expired_admin(system)},
    )

    assert f"token for pipeline {uuid} is not valid" in await refused(system, execution)
    after = await stored(system)
    assert (after.version, after.body) == (before.version, before.body)


async def test_update_that_breaks_the_schema_writes_nothing(make_system: Any) -> None:
    system = await start(make_system)
    uuid, token = await register(system)
    before = await stored(system)

    execution = await run(
        system,
        {"uuid": uuid, "action": "update", "body": {"processing_levels": ["9"]}, "token": token},
    )

    reason = await refused(system, execution)
    assert "pipeline_manager_create" in reason
    assert "processing_levels" in reason
    assert (await stored(system)).version == before.version


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"state": "RETIRED"}, "state of the update body are not pipeline fields"),
        ({"uuid": "106x"}, "uuid of the update body are not pipeline fields"),
    ],
)
async def test_update_of_fields_that_are_not_pipeline_fields_is_refused(
    make_system: Any, body: dict[str, Any], problem: str
) -> None:
    system = await start(make_system)
    uuid, token = await register(system)

    execution = await run(system, {"uuid": uuid, "action": "update", "body": body, "token": token})

    assert problem in await refused(system, execution)


async def test_components_cannot_change(make_system: Any) -> None:
    system = await start(make_system)
    uuid, token = await register(system)
    before = await stored(system)
    components = [{"id": "bbq-brisket-0.6.0"}]

    by_action = await run(
        system,
        {"uuid": uuid, "action": "update", "body": {"components": components}, "token": token},
    )
    by_document = await run(system, tacobot(components=components), token=token, uuid=uuid)

    for execution in (by_action, by_document):
        reason = await refused(system, execution)
        assert f"components of pipeline {uuid} cannot change" in reason
        assert "register a new pipeline" in reason
    assert (await stored(system)).version == before.version


async def test_document_with_new_components_and_old_token_explains_the_new_uuid(
    make_system: Any,
) -> None:
    system = await start(make_system)
    _, token = await register(system)
    components = [{"id": "bbq-brisket-0.6.0"}]

    execution = await run(system, tacobot(components=components), token=token)

    reason = await refused(system, execution)
    assert "is not valid" in reason
    assert f"pipeline {pipeline_uuid(components)} is the one these components name" in reason
    assert await system.store.count_documents("pipelines") == 1


async def test_wrong_or_missing_token_is_refused_and_nothing_written(
    make_system: Any, bus_backend: str
) -> None:
    system = await start(make_system, bus_backend)
    uuid, token = await register(system)
    other = system.update_tokens.issue(pipeline_uuid([{"id": "other"}]))
    before = await stored(system)

    wrong = await run(
        system, {"uuid": uuid, "action": "update", "body": {"name": "x"}, "token": other}
    )
    missing = await run(system, {"uuid": uuid, "action": "retire"})

    wrong_reason = await refused(system, wrong)
    assert f"token for pipeline {uuid} is not valid" in wrong_reason
    assert token not in wrong_reason
    assert "token" in await refused(system, missing)
    after = await stored(system)
    assert (after.version, after.body) == (before.version, before.body)


async def test_update_of_an_unknown_pipeline_is_not_found(make_system: Any) -> None:
    system = await start(make_system)
    uuid = pipeline_uuid([{"id": "never-registered"}])
    token = system.update_tokens.issue(uuid)

    execution = await run(
        system, {"uuid": uuid, "action": "update", "body": {"name": "x"}, "token": token}
    )

    assert f"no pipeline with uuid {uuid}" in await refused(system, execution)


async def test_retire_keeps_the_pipeline_readable_and_twice_is_a_no_op(
    make_system: Any, bus_backend: str
) -> None:
    system = await start(make_system, bus_backend)
    uuid, token = await register(system)

    first = await run(system, {"uuid": uuid, "action": "retire", "token": token})
    second = await run(system, {"action": "retire"}, uuid=uuid, token=token)

    for execution in (first, second):
        assert execution["status"] == "COMPLETE", execution["error"]
        assert execution["result"] == {"uuid": uuid, "state": "RETIRED"}
        assert logged(execution, "DEBUG", "Action selected: retire")
    assert logged(first, "INFO", f"Retired pipeline {uuid}")
    assert logged(second, "INFO", f"Pipeline {uuid} was already retired; nothing changed")
    body = (await stored(system)).body
    assert (body["state"], body["last_event"], body["name"]) == (
        "RETIRED",
        "retire",
        TACOBOT["name"],
    )
    assert [
        event["name"] for event in (await stored_history(system.store, "pipelines", body["uuid"]))
    ] == ["create", "retire"]


async def test_registering_the_components_of_a_retired_pipeline_says_so(
    make_system: Any,
) -> None:
    system = await start(make_system)
    uuid, token = await register(system)
    await run(system, {"uuid": uuid, "action": "retire", "token": token})

    execution = await run(system, tacobot())

    assert f"already exists (retired): {uuid}" in await refused(system, execution)


@pytest.mark.parametrize(
    ("document", "context", "problem"),
    [
        ({"name": "No components"}, {}, "components"),
        (tacobot(colour="red"), {}, "colour"),
        ({"action": "delete", "uuid": TACOBOT_UUID}, {}, "action 'delete' is not accepted"),
        (tacobot(), {"uuid": TACOBOT_UUID}, "uuid names a pipeline to update"),
    ],
)
async def test_malformed_messages_are_refused_naming_the_problem(
    make_system: Any, document: dict[str, Any], context: dict[str, str], problem: str
) -> None:
    system = await start(make_system)

    execution = await run(system, document, **context)

    assert problem in await refused(system, execution)
    assert await system.store.count_documents("pipelines") == 0


async def wait_for_lines(
    system: System, execution_id: str, text: str, *, count: int
) -> dict[str, Any]:
    """The execution once ``count`` of its log lines contain ``text`` (one per delivery)."""
    deadline = time.monotonic() + WAIT_LIMIT
    while True:
        execution = await system.store.get_execution(execution_id)
        assert execution is not None
        lines = [line for line in execution["logs"] if text in line]
        if len(lines) >= count and execution["status"] in ("COMPLETE", "ERROR"):
            return execution
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count} log lines with {text!r} not seen: {execution['logs']}")
        await asyncio.sleep(0.02)
