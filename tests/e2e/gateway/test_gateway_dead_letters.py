"""GET /dead-letters: an admin reads the messages the actors gave up on, with the reason, on
the in-process bus and on RabbitMQ."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
from gateway_harness import Served, ServeGateway, assert_problem
from pipelinejobs.actors.base import ActorContext, Message
from pipelinejobs.errors import InvalidInput
from pipelinejobs.messages.pb.pipelinejobs.v1 import jobs_pb2

ACTOR = "jobs-manager"
ADMIN = ("admin",)
JOB = "1073f4ff-c2b9-5190-bd9a-e6a406d9796a"


class Refuser:
    """Refuses every message that asks for it (a permanent error: it is dead-lettered)."""

    alias: ClassVar[str] = ACTOR

    def check(self, message: Message) -> None:
        pass

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        if message.document.get("doomed") or message.message_type == "JobEvent":
            raise InvalidInput("no tacos left for this message")
        return {"ok": True}


@pytest.fixture
async def refusing(make_system: Any, serve_gateway: ServeGateway, bus_backend: str) -> Served:
    system = await make_system(bus=bus_backend, actors=[Refuser()])
    return await serve_gateway(system)


async def letters(served: Served, *, wanted: int = 1, **params: Any) -> list[dict[str, Any]]:
    """The admin's listing, once it holds ``wanted`` letters (the bus parks a refused message
    just after its execution is recorded)."""
    result: list[dict[str, Any]] = []
    for _ in range(200):
        response = await served.client.get(
            "/dead-letters", params=params, headers=served.bearer("root", ADMIN)
        )
        assert response.status_code == 200, response.text
        result = response.json()["result"]
        if len(result) >= wanted:
            return result
        await asyncio.sleep(0.05)
    return result


async def send(served: Served, document: dict[str, Any], **params: str) -> str:
    response = await served.client.post(
        f"/actors/v2/{ACTOR}/messages", json=document, params=params, headers=served.bearer()
    )
    execution = await served.wait_reply(response)
    return str(execution["message_id"])


async def test_an_admin_reads_a_refused_message_with_its_reason(refusing: Served) -> None:
    await send(refusing, {"fine": True})
    message_id = await send(refusing, {"doomed": True}, session="tacos-1")

    [letter] = await letters(refusing, actor=ACTOR)

    assert letter["actor"] == ACTOR
    assert letter["messageId"] == message_id
    assert "no tacos left for this message" in letter["reason"]
    assert letter["contentType"] == "application/json"
    assert (letter["bodyEncoding"], json.loads(letter["body"])) == ("utf-8", {"doomed": True})
    assert letter["context"] == {"session": "tacos-1"}
    assert letter["headers"]["sender"] == "user:alice"


async def test_without_an_actor_every_actors_letters_are_listed_up_to_the_limit(
    refusing: Served,
) -> None:
    for number in range(3):
        await send(refusing, {"doomed": True, "n": number})

    everything = await letters(refusing, wanted=3)
    limited = await letters(refusing, limit=2, wanted=2)

    assert [json.loads(d["body"])["n"] for d in everything] == [0, 1, 2]  # oldest first
    assert [json.loads(d["body"])["n"] for d in limited] == [0, 1]


async def test_a_protobuf_body_is_given_in_base64(refusing: Served) -> None:
    body = jobs_pb2.JobEvent(uuid=JOB, name="run").SerializeToString()
    response = await refusing.client.post(
        f"/actors/v2/{ACTOR}/messages",
        content=body,
        headers={
            **refusing.bearer(),
            "Content-Type": "application/x-protobuf",
            "X-Message-Type": "JobEvent",
        },
    )
    await refusing.wait_reply(response)

    [letter] = await letters(refusing, actor=ACTOR)

    assert (letter["contentType"], letter["messageType"]) == ("application/x-protobuf", "JobEvent")
    assert letter["bodyEncoding"] == "base64"
    assert base64.b64decode(letter["body"]) == body


async def test_only_an_admin_may_list_dead_letters(refusing: Served) -> None:
    response = await refusing.client.get("/dead-letters", headers=refusing.bearer("alice"))

    assert_problem(response, 403, "only an admin may list them")
    unauthenticated = await refusing.client.get("/dead-letters")
    assert unauthenticated.status_code == 401


async def test_an_unknown_actor_and_a_bad_limit_are_refused_saying_what_is_accepted(
    refusing: Served,
) -> None:
    admin = refusing.bearer("root", ADMIN)

    unknown = await refusing.client.get("/dead-letters?actor=ghost", headers=admin)
    too_many = await refusing.client.get("/dead-letters?limit=5000", headers=admin)

    assert_problem(unknown, 404, "ghost", "jobs-manager")
    assert_problem(too_many, 422, "limit")
