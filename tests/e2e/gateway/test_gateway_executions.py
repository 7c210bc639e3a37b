"""GET .../executions/{id} and .../logs: the sender (or an admin) reads what became of a message."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from gateway_harness import Recorder, Served, ServeGateway, assert_problem
from pipelinejobs.domain.executions import execution_id_for
from pipelinejobs.gateway import GatewaySettings

ACTOR = Recorder.alias


async def send(served: Served, headers: dict[str, str]) -> str:
    response = await served.client.post(
        f"/actors/v2/{ACTOR}/messages", json={"a": 1, "b": 2}, headers=headers
    )
    await served.wait_reply(response)
    return str(response.json()["result"]["executionId"])


def execution_url(execution_id: str, actor: str = ACTOR) -> str:
    return f"/actors/v2/{actor}/executions/{execution_id}"


async def test_sender_reads_status_timestamps_and_result(served: Served) -> None:
    execution_id = await send(served, served.bearer("alice"))

    response = await served.client.get(execution_url(execution_id), headers=served.bearer("alice"))

    assert response.status_code == 200, response.text
    view = response.json()["result"]
    assert view["id"] == execution_id
    assert view["actorId"] == ACTOR
    assert view["status"] == "COMPLETE"
    assert view["sender"] == "user:alice"
    assert view["submitted"] <= view["started"] <= view["finished"]
    assert view["result"]["document"] == {"a": 1, "b": 2}
    assert view["error"] is None
    assert view["_links"]["logs"].endswith(f"{execution_url(execution_id)}/logs")


async def test_sender_reads_the_log_text(served: Served) -> None:
    execution_id = await send(served, served.bearer("alice"))

    response = await served.client.get(
        f"{execution_url(execution_id)}/logs", headers=served.bearer("alice")
    )

    assert response.status_code == 200, response.text
    logs = response.json()["result"]["logs"]
    assert logs.endswith(f"{execution_id} INFO Received 2 fields")


async def test_another_user_is_403(served: Served) -> None:
    execution_id = await send(served, served.bearer("alice"))

    status = await served.client.get(execution_url(execution_id), headers=served.bearer("bob"))
    logs = await served.client.get(
        f"{execution_url(execution_id)}/logs", headers=served.bearer("bob")
    )

    assert_problem(status, 403, "sender or an admin")
    assert_problem(logs, 403, "sender or an admin")


async def test_admins_read_every_execution(make_system: Any, serve_gateway: ServeGateway) -> None:
    system = await make_system(actors=[Recorder()])
    served = await serve_gateway(system, GatewaySettings(admin_users=["carol"]))
    execution_id = await send(served, served.bearer("alice"))

    by_role = await served.client.get(
        execution_url(execution_id), headers=served.bearer("root", roles=["admin"])
    )
    by_setting = await served.client.get(
        execution_url(execution_id), headers=served.bearer("carol")
    )

    assert by_role.status_code == 200, by_role.text
    assert by_setting.status_code == 200, by_setting.text


async def test_owner_reads_with_a_read_nonce_what_they_sent(served: Served) -> None:
    execution_id = await send(served, served.bearer("alice"))
    alices = await served.new_nonce(ACTOR, user="alice", level="READ")
    bobs = await served.new_nonce(ACTOR, user="bob", level="READ")

    allowed = await served.client.get(execution_url(execution_id), params={"x-nonce": alices})
    refused = await served.client.get(execution_url(execution_id), params={"x-nonce": bobs})

    assert allowed.status_code == 200, allowed.text
    assert_problem(refused, 403, "sender or an admin")


async def test_a_none_level_nonce_cannot_read(served: Served) -> None:
    execution_id = await send(served, served.bearer("alice"))
    nonce = await served.new_nonce(ACTOR, user="alice", level="NONE")

    response = await served.client.get(execution_url(execution_id), params={"x-nonce": nonce})

    assert_problem(response, 403, "READ")


async def test_unknown_execution_or_wrong_actor_is_404(served: Served) -> None:
    execution_id = await send(served, served.bearer("alice"))

    unknown = await served.client.get(execution_url("NoSuchExec123"), headers=served.bearer())
    elsewhere = await served.client.get(
        execution_url(execution_id, actor="jobs-indexer"), headers=served.bearer()
    )

    assert_problem(unknown, 404, "NoSuchExec123")
    assert_problem(elsewhere, 404)


async def test_reading_needs_credentials(served: Served) -> None:
    execution_id = await send(served, served.bearer("alice"))

    assert_problem(await served.client.get(execution_url(execution_id)), 401)


# -- waiting on an execution (System.wait, as the tests and the demo do) ---------------------------
async def test_waiting_on_an_execution_not_recorded_yet_waits_for_it(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A follow-up's execution appears only once an actor takes it: waiting on it before then
    must wait, not fail."""
    store = served.system.store
    looked_in_vain = asyncio.Event()
    get_execution = store.get_execution

    async def noting_absence(execution_id: str) -> dict[str, Any] | None:
        found = await get_execution(execution_id)
        if found is None:
            looked_in_vain.set()
        return found

    monkeypatch.setattr(store, "get_execution", noting_absence)
    waiting = asyncio.create_task(served.system.wait(execution_id_for("sent-later")))
    await looked_in_vain.wait()
    await served.system.send(ACTOR, {"n": 1}, message_id="sent-later")

    execution = await waiting
    assert (execution["status"], execution["message_id"]) == ("COMPLETE", "sent-later")


async def test_waiting_on_an_execution_never_recorded_ends_at_the_deadline(served: Served) -> None:
    with pytest.raises(TimeoutError, match="not recorded"):
        await served.system.wait(execution_id_for("never-sent"), within=0.05)
