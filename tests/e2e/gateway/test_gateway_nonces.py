"""Nonces over HTTP: Abaco's levels, use counts, expiry, scope, and their management API."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from gateway_harness import Recorder, Served, assert_problem, bus_outage
from jsonschema import Draft202012Validator
from pipelinejobs.bus.port import Envelope
from pipelinejobs.domain.executions import utc_now
from pipelinejobs.domain.senders import UNOWNED

ACTOR = Recorder.alias
OTHER_ACTOR = "jobs-indexer"
MESSAGES = f"/actors/v2/{ACTOR}/messages"
NONCES = f"/actors/v2/{ACTOR}/nonces"


async def send_with(
    served: Served, nonce: str, actor: str = ACTOR, headers: dict[str, str] | None = None
) -> Any:
    return await served.client.post(
        f"/actors/v2/{actor}/messages", params={"x-nonce": nonce}, json={"n": 1}, headers=headers
    )


async def test_create_returns_the_nonce_in_abacos_fields(served: Served) -> None:
    response = await served.client.post(
        NONCES,
        json={"maxUses": 3, "level": "EXECUTE", "description": "callbacks", "expiresIn": 3600},
        headers=served.bearer("alice"),
    )

    assert response.status_code == 200, response.text
    nonce = response.json()["result"]
    assert nonce["id"].startswith("PJ_")
    assert nonce["actorId"] == ACTOR
    assert nonce["level"] == "EXECUTE"
    assert (nonce["maxUses"], nonce["remainingUses"], nonce["currentUses"]) == (3, 3, 0)
    assert nonce["owner"] == "alice"
    assert nonce["description"] == "callbacks"
    assert nonce["expiresAt"] > nonce["createTime"]
    assert nonce["lastUseTime"] is None


async def test_curl_style_body_and_empty_body_are_accepted(served: Served) -> None:
    form = served.bearer() | {"Content-Type": "application/x-www-form-urlencoded"}
    labelled = await served.client.post(NONCES, content=b'{"maxUses": 1}', headers=form)
    empty = await served.client.post(NONCES, headers=served.bearer())

    assert labelled.json()["result"]["maxUses"] == 1
    defaults = empty.json()["result"]
    assert (defaults["level"], defaults["maxUses"], defaults["expiresAt"]) == ("EXECUTE", -1, None)


async def test_a_nonce_is_used_up_after_max_uses(served: Served) -> None:
    nonce = await served.new_nonce(ACTOR, maxUses=2)

    first = await send_with(served, nonce)
    second = await send_with(served, nonce)
    third = await send_with(served, nonce)

    assert (first.status_code, second.status_code) == (200, 200)
    assert_problem(third, 403, "no remaining uses")
    listed = await served.client.get(NONCES, headers=served.bearer())
    [view] = listed.json()["result"]
    assert (view["remainingUses"], view["currentUses"]) == (0, 2)
    assert view["lastUseTime"] is not None


async def test_concurrent_uses_are_counted_atomically(served: Served) -> None:
    nonce = await served.new_nonce(ACTOR, maxUses=3)

    responses = await asyncio.gather(*(send_with(served, nonce) for _ in range(8)))

    assert sorted(r.status_code for r in responses) == [200] * 3 + [403] * 5


async def test_unlimited_nonce_keeps_working(served: Served) -> None:
    nonce = await served.new_nonce(ACTOR, maxUses=-1)

    for _ in range(4):
        assert (await send_with(served, nonce)).status_code == 200


async def test_nonce_as_header_works_too(served: Served) -> None:
    nonce = await served.new_nonce(ACTOR)

    response = await served.client.post(MESSAGES, json={}, headers={"X-Nonce": nonce})

    assert (await served.wait_reply(response))["sender"] == "nonce:alice"


async def test_nonce_for_another_actor_is_403(served: Served) -> None:
    nonce = await served.new_nonce(OTHER_ACTOR)

    assert_problem(await send_with(served, nonce), 403, "another actor")


async def test_read_level_cannot_send_messages(served: Served) -> None:
    nonce = await served.new_nonce(ACTOR, level="READ")

    assert_problem(await send_with(served, nonce), 403, "READ", "EXECUTE")


async def test_expired_nonce_is_403(served: Served) -> None:
    await served.system.store.save_nonce(
        {
            "id": "PJ_expired",
            "actor": ACTOR,
            "level": 2,
            "max_uses": -1,
            "remaining_uses": -1,
            "current_uses": 0,
            "expires_at": "2020-01-01T00:00:00.000Z",
            "owner": "alice",
            "description": "",
            "create_time": utc_now(),
            "last_use_time": None,
        }
    )

    assert_problem(await send_with(served, "PJ_expired"), 403, "expired")


async def test_a_nonce_no_person_owns_sends_as_no_one_who_can_log_in(served: Served) -> None:
    """The agave-proxy's callback nonce for a job an actor launched has no owner."""
    await served.system.store.save_nonce(
        {
            "id": "PJ_unowned",
            "actor": ACTOR,
            "level": 2,
            "max_uses": -1,
            "remaining_uses": -1,
            "current_uses": 0,
            "expires_at": None,
            "owner": None,
            "description": "callbacks of a job launched by an actor",
            "create_time": utc_now(),
            "last_use_time": None,
        }
    )

    response = await send_with(served, "PJ_unowned")

    assert response.status_code == 200, response.text
    execution_id = response.json()["result"]["executionId"]
    execution = await served.system.store.get_execution(execution_id)
    assert execution is not None
    assert execution["sender"] == f"nonce:{UNOWNED}"
    none_user = await served.client.get(
        f"/actors/v2/{ACTOR}/executions/{execution_id}", headers=served.bearer("None")
    )
    assert none_user.status_code == 403


async def test_unknown_nonce_is_401(served: Served) -> None:
    assert_problem(await send_with(served, "PJ_never_created"), 401, "not known")


async def test_deleted_nonce_no_longer_authorizes(served: Served) -> None:
    nonce = await served.new_nonce(ACTOR)

    deleted = await served.client.delete(f"{NONCES}/{nonce}", headers=served.bearer())

    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["message"] == "Nonce deleted."
    assert_problem(await send_with(served, nonce), 401, "not known")


async def test_users_see_and_delete_only_their_own_nonces(served: Served) -> None:
    alices = await served.new_nonce(ACTOR, user="alice")
    await served.new_nonce(ACTOR, user="bob")

    bob_sees = await served.client.get(NONCES, headers=served.bearer("bob"))
    admin_sees = await served.client.get(NONCES, headers=served.bearer("root", roles=["admin"]))
    bob_deletes = await served.client.delete(f"{NONCES}/{alices}", headers=served.bearer("bob"))
    bob_reads = await served.client.get(f"{NONCES}/{alices}", headers=served.bearer("bob"))
    alice_reads = await served.client.get(f"{NONCES}/{alices}", headers=served.bearer("alice"))

    assert [n["owner"] for n in bob_sees.json()["result"]] == ["bob"]
    assert sorted(n["owner"] for n in admin_sees.json()["result"]) == ["alice", "bob"]
    assert_problem(bob_deletes, 403, "another user")
    assert_problem(bob_reads, 404)
    assert alice_reads.json()["result"]["id"] == alices


async def test_deleting_an_unknown_nonce_is_404(served: Served) -> None:
    response = await served.client.delete(f"{NONCES}/PJ_nothing", headers=served.bearer())

    assert_problem(response, 404)


async def test_nonce_management_needs_a_bearer_token(served: Served) -> None:
    nonce = await served.new_nonce(ACTOR, level="UPDATE")

    response = await served.client.get(NONCES, params={"x-nonce": nonce})

    assert_problem(response, 401, "Bearer")


async def test_bad_nonce_requests_are_422_naming_each_field(served: Served) -> None:
    cases: list[tuple[Any, list[str]]] = [
        ({"maxUses": 0}, ["maxUses"]),
        ({"maxUses": -2}, ["maxUses"]),
        ({"maxUses": "5"}, ["maxUses"]),
        ({"maxUses": 10**30}, ["maxUses"]),
        ({"level": "ROOT"}, ["level"]),
        ({"expiresIn": 0, "maxUses": 1.5}, ["expiresIn", "maxUses"]),
        ({"owner": "mallory"}, ["owner"]),
        (["EXECUTE"], ["$"]),
    ]
    for body, fields in cases:
        response = await served.client.post(NONCES, json=body, headers=served.bearer())
        problem = assert_problem(response, 422)
        named = {line.split(":", 1)[0] for line in problem["errors"]}
        assert named == {f"$.{field}" if field != "$" else "$" for field in fields}, problem


async def test_malformed_nonce_request_json_is_422(served: Served) -> None:
    response = await served.client.post(NONCES, content=b"{maxUses: 1}", headers=served.bearer())

    assert_problem(response, 422, "not valid JSON")


async def test_nonce_for_unknown_actor_is_404(served: Served) -> None:
    response = await served.client.post(
        "/actors/v2/nobody/nonces", json={}, headers=served.bearer()
    )

    assert_problem(response, 404, "nobody")


# -- a message that is not accepted gives its use back -------------------------------------------
async def test_a_503_gives_the_nonce_use_back_so_the_retry_it_invites_succeeds(
    served: Served,
) -> None:
    nonce = await served.new_nonce(ACTOR, maxUses=1)
    retry = {"X-Message-Id": "callback-1"}

    with bus_outage(served.system.bus):
        refused = await send_with(served, nonce, headers=retry)
    assert_problem(refused, 503, "bus")
    view = await served.nonce_view(ACTOR, nonce)
    assert (view["remainingUses"], view["currentUses"]) == (1, 0)
    retried = await send_with(served, nonce, headers=retry)

    execution = await served.wait_reply(retried)
    assert (execution["status"], execution["sender"]) == ("COMPLETE", "nonce:alice")
    assert_problem(await send_with(served, nonce), 403, "no remaining uses")


async def test_a_message_refused_as_invalid_does_not_use_the_nonce(served: Served) -> None:
    nonce = await served.new_nonce(ACTOR, maxUses=1)

    refused = await served.client.post(MESSAGES, params={"x-nonce": nonce}, json={"refuse": True})
    assert_problem(refused, 422)
    accepted = await send_with(served, nonce)

    assert accepted.status_code == 200, accepted.text
    view = await served.nonce_view(ACTOR, nonce)
    assert (view["remainingUses"], view["currentUses"]) == (0, 1)


async def test_racing_refused_and_accepted_messages_never_pass_max_uses(served: Served) -> None:
    """Odd-numbered messages meet a bus outage (503, their use given back) or find no use left
    (403); even ones are accepted while uses remain. However they interleave, no refused message
    keeps a use, and exactly 3 messages are accepted in all."""
    nonce = await served.new_nonce(ACTOR, maxUses=3)

    def odd(envelope: Envelope) -> bool:
        return bool(json.loads(envelope.body)["n"] % 2)

    async def send(number: int) -> int:
        response = await served.client.post(MESSAGES, params={"x-nonce": nonce}, json={"n": number})
        return response.status_code

    with bus_outage(served.system.bus, refuses=odd):
        refused = await asyncio.gather(*(send(number) for number in range(1, 24, 2)))
        after_refusals = await served.nonce_view(ACTOR, nonce)
        mixed = await asyncio.gather(*(send(number) for number in range(12)))
        later = [await send(number) for number in range(100, 108, 2)]

    assert 503 in refused
    assert set(refused) <= {403, 503}
    assert (after_refusals["remainingUses"], after_refusals["currentUses"]) == (3, 0)
    assert {mixed[number] for number in range(1, 12, 2)} <= {403, 503}
    assert mixed.count(200) + later.count(200) == 3
    assert later[-1] == 403
    view = await served.nonce_view(ACTOR, nonce)
    assert (view["remainingUses"], view["currentUses"]) == (0, 3)


# -- maxUses: bounded, and the OpenAPI document says exactly what is accepted ---------------------
async def test_max_uses_beyond_a_32_bit_count_is_422_naming_the_bound(served: Served) -> None:
    too_many = await served.client.post(NONCES, json={"maxUses": 10**30}, headers=served.bearer())
    most = await served.client.post(NONCES, json={"maxUses": 2**31 - 1}, headers=served.bearer())

    problem = assert_problem(too_many, 422, "2147483647")
    assert {line.split(":", 1)[0] for line in problem["errors"]} == {"$.maxUses"}
    assert most.status_code == 200, most.text
    assert most.json()["result"]["remainingUses"] == 2**31 - 1


async def test_openapi_schema_of_max_uses_accepts_exactly_what_the_server_accepts(
    served: Served,
) -> None:
    spec = (await served.client.get("/openapi.json")).json()
    request = spec["paths"]["/actors/v2/{actor}/nonces"]["post"]["requestBody"]
    schema = request["content"]["application/json"]["schema"]["properties"]["maxUses"]
    documented = Draft202012Validator(schema)

    for value in (-1, 1, 7, 2**31 - 1, 0, -2, 2**31, 10**30, "5", True):
        response = await served.client.post(
            NONCES, json={"maxUses": value}, headers=served.bearer()
        )
        assert documented.is_valid(value) is (response.status_code == 200), (value, response.text)
    assert not documented.is_valid(0)
