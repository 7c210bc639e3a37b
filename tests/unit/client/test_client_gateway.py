"""AsyncGateway: messages, executions, logs, nonces and the errors a caller can act on."""

from __future__ import annotations

import httpx
import pytest
from client_harness import BASE_URL, PIPELINE, Sdk
from pipelinejobs.client import (
    AsyncGateway,
    ExecutionFailed,
    ExecutionTimedOut,
    GatewayUnavailable,
    GatewayUnreachable,
    JobsClient,
    NotAGateway,
    RequestRefused,
)
from pipelinejobs.errors import InvalidInput, PermanentError, TransientError


async def test_send_returns_an_execution_id_whose_wait_gives_the_actors_reply(sdk: Sdk) -> None:
    document = {**PIPELINE, "components": [{"id": "other-1.0", "inputs": {}, "parameters": {}}]}

    execution_id = await sdk.gateway.send("pipelines-manager", document)
    execution = await sdk.gateway.wait("pipelines-manager", execution_id, timeout=30)

    assert execution["id"] == execution_id
    assert execution["status"] == "COMPLETE"
    assert execution["result"]["uuid"].startswith("106")
    logs = await sdk.gateway.logs("pipelines-manager", execution_id)
    assert "Action selected: create" in logs
    assert f"Created pipeline {execution['result']['uuid']} with update token" in logs


async def test_url_parameters_reach_the_actor_as_the_message_context(sdk: Sdk) -> None:
    created = await sdk.gateway.call("pipelines-manager", PIPELINE | {"components": [{"id": "x"}]})

    reply = await sdk.gateway.call(
        "pipelines-manager",
        {**PIPELINE, "components": [{"id": "x"}], "name": "renamed"},
        {"token": created["token"]},
    )

    assert reply == {"uuid": created["uuid"], "updated": ["name"], "token": created["token"]}


async def test_an_execution_that_ends_in_error_raises_with_the_actors_reason(sdk: Sdk) -> None:
    with pytest.raises(ExecutionFailed) as raised:
        await sdk.gateway.call("pipelines-manager", PIPELINE)

    assert raised.value.actor == "pipelines-manager"
    assert "a pipeline with these components already exists" in raised.value.error
    assert raised.value.execution["status"] == "ERROR"
    assert isinstance(raised.value, PermanentError)


async def test_a_message_the_gateway_refuses_raises_with_the_problem_detail(sdk: Sdk) -> None:
    with pytest.raises(RequestRefused) as raised:
        await sdk.gateway.send("pipelines-manager", {"name": "no components"})

    assert raised.value.status == 422
    assert "components" in raised.value.detail
    assert raised.value.problem["type"].endswith("/invalid-input")


async def test_an_unknown_actor_is_a_404_naming_the_actors(sdk: Sdk) -> None:
    with pytest.raises(RequestRefused) as raised:
        await sdk.gateway.send("tacobot", {"a": 1})

    assert raised.value.status == 404
    assert "jobs-manager" in raised.value.detail


async def test_without_credentials_the_refusal_says_how_to_get_a_token(sdk: Sdk) -> None:
    async with sdk.connect(user=None) as anonymous:
        with pytest.raises(RequestRefused) as raised:
            await anonymous.send("jobs-manager", {"uuid": "x", "name": "run"})

    assert raised.value.status == 401
    assert "pipelinejobs token issue" in raised.value.detail


async def test_wait_gives_up_naming_the_status_it_last_saw(sdk: Sdk) -> None:
    await sdk.system.runtime.stop()  # nobody consumes: the execution stays SUBMITTED
    execution_id = await sdk.gateway.send("pipelines-manager", PIPELINE)

    with pytest.raises(ExecutionTimedOut) as raised:
        await sdk.gateway.wait("pipelines-manager", execution_id, timeout=0.2)

    assert raised.value.status == "SUBMITTED"
    assert isinstance(raised.value, TimeoutError)
    assert f"pipelinejobs logs pipelines-manager {execution_id}" in str(raised.value)


async def test_a_nonce_sends_messages_and_reads_their_executions(sdk: Sdk) -> None:
    nonce = await sdk.gateway.create_nonce("pipelines-manager", max_uses=-1, description="ci")
    async with sdk.connect(user=None, nonce=nonce["id"]) as holder:
        reply = await holder.call("pipelines-manager", {**PIPELINE, "components": [{"id": "n"}]})
        with pytest.raises(RequestRefused) as refused:
            await holder.get("/pipelines")

    assert reply["uuid"].startswith("106")
    assert refused.value.status == 401
    assert "Authorization: Bearer" in refused.value.detail
    [listed] = await sdk.gateway.list_nonces("pipelines-manager")
    assert listed["id"] == nonce["id"]
    assert listed["currentUses"] >= 2  # the send, and at least one poll


async def test_a_deleted_nonce_authorizes_nothing(sdk: Sdk) -> None:
    nonce = await sdk.gateway.create_nonce("jobs-manager", level="EXECUTE", max_uses=5)

    await sdk.gateway.delete_nonce("jobs-manager", nonce["id"])

    assert await sdk.gateway.list_nonces("jobs-manager") == []
    async with sdk.connect(user=None, nonce=nonce["id"]) as holder:
        with pytest.raises(RequestRefused) as raised:
            await holder.send("jobs-manager", {"uuid": "x", "name": "run"})
    assert raised.value.status == 401
    assert "not known" in raised.value.detail


async def test_ready_reports_the_store_and_bus(sdk: Sdk) -> None:
    assert await sdk.gateway.ready() == {"status": "ready", "checks": {"store": "ok", "bus": "ok"}}


async def test_nothing_answering_is_unreachable_and_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with AsyncGateway(BASE_URL, token="t", transport=httpx.MockTransport(refuse)) as gateway:
        with pytest.raises(GatewayUnreachable) as raised:
            await gateway.send("jobs-manager", {"name": "run"})

    assert isinstance(raised.value, TransientError)
    assert BASE_URL in str(raised.value)
    assert "pipelinejobs up" in str(raised.value)


async def test_a_5xx_answer_is_unavailable_and_transient() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            503,
            json={"type": "x", "title": "Store unavailable", "status": 503, "detail": "store down"},
        )

    async with AsyncGateway(BASE_URL, token="t", transport=httpx.MockTransport(down)) as gateway:
        with pytest.raises(GatewayUnavailable) as raised:
            await gateway.get("/jobs")

    assert raised.value.status == 503
    assert raised.value.detail == "store down"
    assert isinstance(raised.value, TransientError)


def test_the_messages_url_names_the_actor_under_the_base_url() -> None:
    gateway = AsyncGateway("http://example.org:8000/", token="t")

    assert gateway.messages_url("jobs-manager") == (
        "http://example.org:8000/actors/v2/jobs-manager/messages"
    )


def html(request: httpx.Request) -> httpx.Response:
    """What a wrong URL may answer: a web page."""
    return httpx.Response(
        200, text="<html><body>Welcome</body></html>", headers={"Content-Type": "text/html"}
    )


async def test_a_web_page_where_the_gateway_should_be_is_not_a_gateway() -> None:
    async with AsyncGateway(BASE_URL, token="t", transport=httpx.MockTransport(html)) as gateway:
        with pytest.raises(NotAGateway) as raised:
            await gateway.send("jobs-manager", {"name": "run"})

    message = str(raised.value)
    assert f"POST {BASE_URL}/actors/v2/jobs-manager/messages" in message
    assert "expected a JSON document (got HTTP 200, text/html" in message
    assert "the gateway's URL" in message
    assert isinstance(raised.value, GatewayUnreachable)


@pytest.mark.parametrize(
    ("answer", "call", "expected"),
    [
        ({"status": "success"}, "send", "a JSON object with result"),
        ({"result": {"id": "x"}}, "send", "result.executionId"),
        ({"result": []}, "execution", "an execution object under result"),
        ({"result": {}}, "logs", "result.logs"),
        ({"items": "none"}, "jobs", "a page object with a list of items"),
        ([1, 2], "ready", "a readiness object"),
    ],
)
async def test_json_of_another_shape_is_not_a_gateway_either(
    answer: object, call: str, expected: str
) -> None:
    def other_service(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answer)

    transport = httpx.MockTransport(other_service)
    async with AsyncGateway(BASE_URL, token="t", transport=transport) as gateway:
        calls = {
            "send": lambda: gateway.send("jobs-manager", {"name": "run"}),
            "execution": lambda: gateway.execution("jobs-manager", "e1"),
            "logs": lambda: gateway.logs("jobs-manager", "e1"),
            "jobs": lambda: JobsClient(gateway).list(),
            "ready": gateway.ready,
        }
        with pytest.raises(NotAGateway, match=expected):
            await calls[call]()


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://example.org", "http://", "http://[::1"])
def test_a_url_that_is_not_http_is_refused_saying_what_is_accepted(url: str) -> None:
    with pytest.raises(InvalidInput, match="give an http"):
        AsyncGateway(url)
