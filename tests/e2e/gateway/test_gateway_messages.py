"""POST /actors/v2/{actor}/messages over real HTTP: every way to send, every refusal."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import pytest
from gateway_harness import Recorder, Served, ServeGateway, assert_problem, bus_outage
from pipelinejobs import __version__
from pipelinejobs.application.submission import submit
from pipelinejobs.bus.port import Bus, Envelope
from pipelinejobs.domain.derived_ids import sender_message_id
from pipelinejobs.domain.executions import execution_id_for
from pipelinejobs.domain.identifiers import UUIDType, typed_uuid
from pipelinejobs.errors import NotFound
from pipelinejobs.gateway import GatewaySettings
from pipelinejobs.messages.pb.pipelinejobs.v1 import jobs_pb2
from pipelinejobs.messages.protodocs import proto_from_document

ACTOR = Recorder.alias
MESSAGES = f"/actors/v2/{ACTOR}/messages"
JOB = typed_uuid("gateway message test job", UUIDType.PIPELINEJOB)
CURL_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def test_json_body_is_published_and_the_reply_is_abaco_shaped(served: Served) -> None:
    body = {"uuid": JOB, "name": "finish", "token": "0dc73dc3ff39b49a"}
    response = await served.client.post(MESSAGES, json=body, headers=served.bearer("alice"))

    reply = response.json()
    assert reply["status"] == "success"
    assert reply["message"] == "The request was successful"
    assert reply["version"] == __version__
    execution_id = reply["result"]["executionId"]
    assert json.loads(reply["result"]["msg"]) == body
    assert reply["result"]["_links"]["self"].endswith(
        f"/actors/v2/{ACTOR}/executions/{execution_id}"
    )
    execution = await served.wait_reply(response)
    assert execution["status"] == "COMPLETE"
    assert execution["result"] == {
        "document": body,
        "context": {},
        "sender": "user:alice",
        "message_type": None,
    }


async def test_curl_data_labelled_as_a_form_is_read_as_json(served: Served) -> None:
    """``curl --data '{...}'`` sends application/x-www-form-urlencoded; the docs rely on it."""
    headers = served.bearer() | CURL_FORM
    response = await served.client.post(
        MESSAGES, content=b'{"arbitrary": "key value data"}', headers=headers
    )

    execution = await served.wait_reply(response)
    assert execution["result"]["document"] == {"arbitrary": "key value data"}


async def test_url_parameters_become_the_context_without_the_nonce(served: Served) -> None:
    nonce = await served.new_nonce(ACTOR)
    response = await served.client.post(
        f"{MESSAGES}?uuid={JOB}&event=finish&token=0dc73dc3ff39b49a&x-nonce={nonce}",
        content=b'{"arbitrary": "key value data"}',
        headers=CURL_FORM,
    )

    execution = await served.wait_reply(response)
    assert execution["result"]["context"] == {
        "uuid": JOB,
        "event": "finish",
        "token": "0dc73dc3ff39b49a",
    }
    assert execution["result"]["document"] == {"arbitrary": "key value data"}
    assert execution["result"]["sender"] == "nonce:alice"


async def test_message_url_parameter_is_the_message_when_there_is_no_body(served: Served) -> None:
    message = json.dumps({"uuid": JOB, "name": "run"})
    response = await served.client.post(
        MESSAGES, params={"message": message, "note": "hi"}, headers=served.bearer()
    )

    assert response.json()["result"]["msg"] == message
    execution = await served.wait_reply(response)
    assert execution["result"]["document"] == {"uuid": JOB, "name": "run"}
    assert execution["result"]["context"] == {"note": "hi"}


async def test_abaco_form_field_message_is_the_message(served: Served) -> None:
    response = await served.client.post(
        MESSAGES, data={"message": '{"name": "run"}'}, headers=served.bearer()
    )

    execution = await served.wait_reply(response)
    assert execution["result"]["document"] == {"name": "run"}


async def test_empty_body_sends_an_empty_document(served: Served) -> None:
    response = await served.client.post(f"{MESSAGES}?uuid={JOB}", headers=served.bearer())

    execution = await served.wait_reply(response)
    assert execution["result"]["document"] == {}
    assert execution["result"]["context"] == {"uuid": JOB}


async def test_protobuf_body_with_its_message_type(served: Served) -> None:
    document = {"uuid": JOB, "name": "finish", "data": {"note": "done"}}
    body = proto_from_document(document, jobs_pb2.JobEvent).SerializeToString()
    headers = served.bearer() | {
        "Content-Type": "application/x-protobuf",
        "X-Message-Type": "JobEvent",
    }
    response = await served.client.post(MESSAGES, content=body, headers=headers)

    assert json.loads(response.json()["result"]["msg"]) == document
    execution = await served.wait_reply(response)
    assert execution["result"]["document"] == document
    assert execution["result"]["message_type"] == "JobEvent"


async def test_a_retried_request_with_its_message_id_is_one_execution(served: Served) -> None:
    headers = served.bearer() | {"X-Message-Id": "client-message-42"}
    first = await served.client.post(MESSAGES, json={"n": 1}, headers=headers)
    second = await served.client.post(MESSAGES, json={"n": 1}, headers=headers)

    expected = execution_id_for(sender_message_id("user:alice", "client-message-42"))
    assert first.json()["result"]["executionId"] == expected
    assert second.json()["result"]["executionId"] == expected
    assert (await served.wait_reply(second))["message_id"] == sender_message_id(
        "user:alice", "client-message-42"
    )
    # another sender's message with the same header is its own message
    other = await served.client.post(
        MESSAGES, json={"n": 1}, headers=headers | served.bearer("bob")
    )
    assert other.json()["result"]["executionId"] == execution_id_for(
        sender_message_id("user:bob", "client-message-42")
    )


async def test_configured_actor_id_reaches_its_actor(
    make_system: Any, serve_gateway: ServeGateway
) -> None:
    system = await make_system(actors=[Recorder()])
    served = await serve_gateway(system, GatewaySettings(actor_ids={"G1p783PxpalBB": ACTOR}))

    response = await served.client.post(
        "/actors/v2/G1p783PxpalBB/messages", json={"via": "id"}, headers=served.bearer()
    )

    execution = await served.wait_reply(response)
    assert execution["actor"] == ACTOR
    assert execution["result"]["document"] == {"via": "id"}


# -- refusals ------------------------------------------------------------------------------


async def test_unknown_actor_is_404_listing_the_aliases(served: Served) -> None:
    response = await served.client.post(
        "/actors/v2/no-such-actor/messages", json={}, headers=served.bearer()
    )

    assert_problem(response, 404, "no-such-actor", "jobs-manager", "jobs-indexer")


async def test_unknown_actor_is_refused_before_anything_is_recorded_outside_the_gateway_too(
    served: Served,
) -> None:
    """``System.send`` (the CLI's and the tests' way in) refuses as the gateway does."""
    with pytest.raises(NotFound, match="no-such-actor") as refused:
        await served.system.send("no-such-actor", {"n": 1}, message_id="to-nobody")

    assert "pipelines-manager" in str(refused.value)
    assert await served.system.store.get_execution(execution_id_for("to-nobody")) is None


async def test_a_message_the_bus_refuses_for_good_ends_error_instead_of_staying_submitted(
    served: Served,
) -> None:
    """A queue gone since the bus listed its actors (deleted by an operator) is refused only
    when publishing: the execution ends ERROR, never accepted."""

    class StaleListBus:
        actors = (*served.system.bus.actors, "no-such-actor")

        def __init__(self, bus: Bus) -> None:
            self._bus = bus

        async def publish(self, envelopes: Sequence[Envelope]) -> None:
            await self._bus.publish(envelopes)

    bus = cast(Bus, StaleListBus(served.system.bus))
    with pytest.raises(NotFound, match="no-such-actor"):
        await submit(served.system.store, bus, "no-such-actor", body=b"{}", message_id="lost")

    execution = await served.system.store.get_execution(execution_id_for("lost"))
    assert execution is not None
    assert execution["status"] == "ERROR"
    assert "not accepted" in execution["error"]
    assert "no-such-actor" in execution["error"]


async def test_the_route_takes_only_post_other_methods_are_405(served: Served) -> None:
    response = await served.client.get(MESSAGES, headers=served.bearer())

    assert_problem(response, 405)


class FaultyRecorder(Recorder):
    """An actor whose check fails in a way nobody planned for."""

    def check(self, message: Any) -> None:
        raise RuntimeError("a defect in the check")


async def test_a_defect_while_accepting_is_a_500_problem_and_nothing_is_recorded(
    make_system: Any, serve_gateway: ServeGateway
) -> None:
    served = await serve_gateway(await make_system(actors=[FaultyRecorder()]))

    response = await served.client.post(
        MESSAGES, json={}, headers={**served.bearer(), "X-Message-Id": "defect"}
    )

    problem = assert_problem(response, 500, "failed unexpectedly")
    assert "defect in the check" not in problem["detail"]
    execution_id = execution_id_for(sender_message_id("user:alice", "defect"))
    assert await served.system.store.get_execution(execution_id) is None


async def test_no_credentials_is_401(served: Served) -> None:
    response = await served.client.post(MESSAGES, json={})

    assert_problem(response, 401, "Authorization: Bearer", "x-nonce")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_bad_bearer_tokens_are_401(served: Served) -> None:
    from pipelinejobs.gateway import issue_token

    wrong_key = issue_token(b"not the system's key, but long enough", "mallory")
    expired = issue_token(served.system.secrets.jwt_secret, "alice", ttl=1, now=1_000_000)
    cases = {
        f"Bearer {wrong_key}": "signature",
        f"Bearer {expired}": "expired",
        "Bearer not-a-jwt": "not a JWT",
        f"Basic {served.token()}": "Bearer",
    }
    for authorization, needle in cases.items():
        response = await served.client.post(
            MESSAGES, json={}, headers={"Authorization": authorization}
        )
        assert_problem(response, 401, needle)


async def test_malformed_json_is_422_naming_the_problem(served: Served) -> None:
    response = await served.client.post(
        MESSAGES, content=b'{"uuid": "107", "name": }', headers=served.bearer()
    )

    assert_problem(response, 422, "not valid JSON", "line 1")


async def test_json_that_is_not_an_object_is_422(served: Served) -> None:
    response = await served.client.post(MESSAGES, json=["finish"], headers=served.bearer())

    assert_problem(response, 422, "JSON object", "array")


async def test_undecodable_protobuf_is_422(served: Served) -> None:
    headers = served.bearer() | {
        "Content-Type": "application/x-protobuf",
        "X-Message-Type": "JobEvent",
    }
    response = await served.client.post(MESSAGES, content=b"\xff\xff\xff\xff", headers=headers)

    assert_problem(response, 422)


async def test_protobuf_without_message_type_is_422(served: Served) -> None:
    headers = served.bearer() | {"Content-Type": "application/x-protobuf"}
    response = await served.client.post(MESSAGES, content=b"\x0a\x01x", headers=headers)

    assert_problem(response, 422, "X-Message-Type")


async def test_unknown_message_type_is_422_listing_the_known(served: Served) -> None:
    headers = served.bearer() | {"X-Message-Type": "Nonsense"}
    response = await served.client.post(MESSAGES, json={}, headers=headers)

    assert_problem(response, 422, "Nonsense", "JobEvent")


async def test_other_content_types_are_415(served: Served) -> None:
    headers = served.bearer() | {"Content-Type": "application/xml"}
    response = await served.client.post(MESSAGES, content=b"<finish/>", headers=headers)

    assert_problem(response, 415, "application/xml", "application/json")


async def test_the_actors_check_refuses_with_each_field_named(served: Served) -> None:
    response = await served.client.post(
        MESSAGES, json={"refuse": True}, headers=served.bearer() | {"X-Message-Id": "refused-1"}
    )

    problem = assert_problem(response, 422, "recorder_message")
    assert problem["errors"] == ["$.refuse: True is not allowed", "$.name: is required"]
    # Refused before submission: no execution was recorded.
    assert (
        await served.system.store.get_execution(
            execution_id_for(sender_message_id("user:alice", "refused-1"))
        )
        is None
    )


async def test_body_over_the_limit_is_413_by_content_length_and_by_bytes_read(
    make_system: Any, serve_gateway: ServeGateway
) -> None:
    system = await make_system(actors=[Recorder()], max_message_bytes=4096)
    served = await serve_gateway(system)
    big = json.dumps({"data": "x" * 5000}).encode()

    declared = await served.client.post(MESSAGES, content=big, headers=served.bearer())
    assert_problem(declared, 413, "4096")

    async def chunks() -> AsyncIterator[bytes]:  # chunked: no Content-Length to trust
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000]

    streamed = await served.client.post(MESSAGES, content=chunks(), headers=served.bearer())
    assert "content-length" not in streamed.request.headers
    assert_problem(streamed, 413, "4096")


async def test_bus_unavailable_is_503_and_nothing_is_half_accepted(served: Served) -> None:
    await served.system.bus.close()

    response = await served.client.post(
        MESSAGES, json={"n": 1}, headers=served.bearer() | {"X-Message-Id": "during-outage"}
    )

    assert_problem(response, 503, "bus", "send the request again")
    assert int(response.headers["retry-after"]) > 0
    execution = await served.system.store.get_execution(
        execution_id_for(sender_message_id("user:alice", "during-outage"))
    )
    assert execution is not None
    assert execution["status"] == "ERROR"
    assert "not accepted" in execution["error"]


async def test_a_retry_after_a_503_starts_a_clean_execution(
    make_system: Any, serve_gateway: ServeGateway
) -> None:
    """The retry's execution is a new SUBMITTED one, not the refused attempt's ERROR; nothing
    consumes until the retry is answered, so the state the client polls is the one checked."""
    system = await make_system(actors=[Recorder()], aliases=[])
    served = await serve_gateway(system)
    headers = served.bearer() | {"X-Message-Id": "retried-after-outage"}
    execution_id = execution_id_for(sender_message_id("user:alice", "retried-after-outage"))
    url = f"/actors/v2/{ACTOR}/executions/{execution_id}"

    with bus_outage(system.bus):
        refused = await served.client.post(MESSAGES, json={"n": 1}, headers=headers)
    assert_problem(refused, 503, "bus")
    retried = await served.client.post(MESSAGES, json={"n": 1}, headers=headers)

    assert retried.status_code == 200, retried.text
    assert retried.json()["result"]["executionId"] == execution_id
    polled = (await served.client.get(url, headers=served.bearer())).json()["result"]
    assert (polled["status"], polled["error"], polled["finished"]) == ("SUBMITTED", None, None)
    assert system.runtime is not None
    await system.runtime.start([ACTOR])
    execution = await system.wait(execution_id)
    assert (execution["status"], execution["error"]) == ("COMPLETE", None)
    assert execution["result"]["document"] == {"n": 1}
    assert not any("not accepted" in line for line in execution["logs"])
