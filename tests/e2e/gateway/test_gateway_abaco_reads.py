"""Abaco's own clients: the read routes the abaco CLI calls, in Abaco's envelope, and Abaco's
error envelope on every /actors/v2 route (the CLI prints ``.message``, never ``null``).

The replies are read with the abaco-cli scripts' own jq filters, written out in Python:
``abaco ls`` reads ``.result[] | [.name, .id, .status]``, ``abaco executions ACTOR`` reads
``.result.executions[] | [.id, .status]`` (older clients ``.result.ids[0]``), ``abaco run``
``.result.executionId`` and ``abaco logs`` ``.result.logs``.
"""

from __future__ import annotations

from typing import Any

import httpx
from gateway_harness import PROBLEM, Served, ServeGateway, assert_problem
from pipelinejobs.gateway import GatewaySettings

ALIASES = {"pipelines-manager", "jobs-manager", "jobs-indexer", "agave-proxy"}


def envelope(response: httpx.Response) -> dict[str, Any]:
    """An Abaco success envelope: status, message, result, version."""
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "success"
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body["version"]
    assert "result" in body
    return body


async def test_abaco_ls_lists_every_actor_with_id_name_and_status(
    make_system: Any, serve_gateway: ServeGateway
) -> None:
    settings = GatewaySettings(actor_ids={"G1p783PxpalBB": "jobs-manager"})
    served = await serve_gateway(await make_system(), settings)

    body = envelope(await served.client.get("/actors/v2", headers=served.bearer("alice")))

    rows = {(actor["name"], actor["id"], actor["status"]) for actor in body["result"]}
    assert rows == {
        ("pipelines-manager", "pipelines-manager", "READY"),
        ("jobs-manager", "G1p783PxpalBB", "READY"),
        ("jobs-indexer", "jobs-indexer", "READY"),
        ("agave-proxy", "agave-proxy", "READY"),
    }


async def test_one_actor_by_alias_or_id(make_system: Any, serve_gateway: ServeGateway) -> None:
    settings = GatewaySettings(actor_ids={"G1p783PxpalBB": "jobs-manager"})
    served = await serve_gateway(await make_system(), settings)

    by_id = envelope(
        await served.client.get("/actors/v2/G1p783PxpalBB", headers=served.bearer("alice"))
    )
    by_alias = envelope(
        await served.client.get("/actors/v2/jobs-manager", headers=served.bearer("alice"))
    )

    assert by_id["result"] == by_alias["result"]
    actor = by_id["result"]
    assert (actor["id"], actor["name"], actor["status"]) == (
        "G1p783PxpalBB",
        "jobs-manager",
        "READY",
    )
    assert actor["_links"]["executions"].endswith("/actors/v2/G1p783PxpalBB/executions")


async def test_executions_are_the_callers_own_newest_first(served: Served) -> None:
    sent = []
    for n in range(3):
        response = await served.client.post(
            "/actors/v2/pipelines-manager/messages", json={"n": n}, headers=served.bearer("alice")
        )
        sent.append(response.json()["result"]["executionId"])
        await served.wait_reply(response)
    nonce = await served.new_nonce("pipelines-manager", user="alice")
    by_nonce = await served.client.post(
        f"/actors/v2/pipelines-manager/messages?x-nonce={nonce}", json={"by": "nonce"}
    )
    sent.append(by_nonce.json()["result"]["executionId"])
    await served.wait_reply(by_nonce)
    bobs = await served.client.post(
        "/actors/v2/pipelines-manager/messages", json={"n": 9}, headers=served.bearer("bob")
    )
    await served.wait_reply(bobs)

    alice = envelope(
        await served.client.get(
            "/actors/v2/pipelines-manager/executions", headers=served.bearer("alice")
        )
    )
    bob = envelope(
        await served.client.get(
            "/actors/v2/pipelines-manager/executions", headers=served.bearer("bob")
        )
    )
    carol = envelope(
        await served.client.get(
            "/actors/v2/pipelines-manager/executions", headers=served.bearer("carol")
        )
    )

    assert alice["result"]["ids"] == list(reversed(sent))
    listed = [(e["id"], e["status"]) for e in alice["result"]["executions"]]
    assert listed == [(execution, "COMPLETE") for execution in reversed(sent)]
    assert alice["result"]["actorId"] == "pipelines-manager"
    assert bob["result"]["ids"] == [bobs.json()["result"]["executionId"]]
    assert carol["result"]["ids"] == []


async def test_executions_with_a_read_nonce_are_its_owners(served: Served) -> None:
    response = await served.client.post(
        "/actors/v2/pipelines-manager/messages", json={}, headers=served.bearer("alice")
    )
    await served.wait_reply(response)
    nonce = await served.new_nonce("pipelines-manager", user="alice", level="READ")

    body = envelope(
        await served.client.get(f"/actors/v2/pipelines-manager/executions?x-nonce={nonce}")
    )

    assert body["result"]["ids"] == [response.json()["result"]["executionId"]]


async def test_errors_on_actor_routes_are_abaco_envelopes_and_problems(served: Served) -> None:
    bearer = served.bearer("alice")
    refusals = [
        (await served.client.get("/actors/v2"), 401, "no credentials"),
        (await served.client.get("/actors/v2/nobody", headers=bearer), 404, "no actor 'nobody'"),
        (
            await served.client.get("/actors/v2/nobody/executions", headers=bearer),
            404,
            "no actor 'nobody'",
        ),
        (
            await served.client.get(
                "/actors/v2/pipelines-manager/executions?limit=0", headers=bearer
            ),
            422,
            "limit",
        ),
        (
            await served.client.post(
                "/actors/v2/pipelines-manager/messages", content=b"{", headers=bearer
            ),
            422,
            "JSON",
        ),
        (
            await served.client.get(
                "/actors/v2/pipelines-manager/executions/0000000000000", headers=bearer
            ),
            404,
            "no execution",
        ),
        (
            await served.client.get(
                "/actors/v2/pipelines-manager/nonces/PJ_nothing", headers=bearer
            ),
            404,
            "nonce",
        ),
        (await served.client.get("/actors/v2/a/b/c/d", headers=bearer), 404, "no such route"),
    ]

    elsewhere = await served.client.get("/jobs/not-a-uuid", headers=bearer)

    for response, status, needle in refusals:
        problem = assert_problem(response, status, needle)
        assert problem["message"] == problem["detail"]
        assert problem["status"] == "error"
    assert elsewhere.headers["content-type"].startswith(PROBLEM)
    plain = elsewhere.json()
    assert plain["status"] == 422
    assert "message" not in plain
