"""The Agave HTTP client against an in-process stand-in of the Agave v2 jobs API: what is
particular to HTTP (what the port promises of every adapter is in ``tests/contract/compute``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from agave_standin import AgaveStandIn
from pipelinejobs.compute.agave import AgaveClient
from pipelinejobs.compute.port import ComputeRejected, ComputeUnavailable

BASE = "https://agave.example.org"
DEFINITION: dict[str, Any] = {
    "appId": "tacobot9000-0.1.0u1",
    "name": "TACObot job",
    "inputs": {"file1": "agave://data.tacc.cloud/examples/tacobot/test1.txt"},
    "parameters": {"salsa": True, "avocado": False, "cheese": True},
    "maxRunTime": "01:00:00",
    "archive": True,
    "archiveSystem": "data-sd2e-community",
    "archivePath": "/products/v2/abc",
    "notifications": [
        {"event": "*", "persistent": True, "url": "http://gw/cb?status=${JOB_STATUS}"}
    ],
}


@pytest.fixture
async def client(standin: AgaveStandIn) -> AsyncIterator[AgaveClient]:
    client = AgaveClient(BASE, standin.token, transport=httpx.ASGITransport(app=standin.app))
    yield client
    await client.close()


async def test_submit_sends_the_definition_and_returns_the_job(
    client: AgaveClient, standin: AgaveStandIn
) -> None:
    job = await client.submit(DEFINITION)
    assert job.status == "PENDING"
    assert job.link == f"{BASE}/jobs/v2/{job.id}"
    assert job.detail["archivePath"] == "/products/v2/abc"
    stored = standin.jobs[job.id]
    assert stored["parameters"] == DEFINITION["parameters"]
    assert stored["inputs"] == DEFINITION["inputs"]


async def test_every_request_carries_the_bearer_token(
    client: AgaveClient, standin: AgaveStandIn
) -> None:
    job = await client.submit(DEFINITION)
    await client.status(job.id)
    await client.app_exists("tacobot9000-0.1.0u1")
    assert [auth for _, _, auth in standin.requests] == [f"Bearer {standin.token}"] * 3


async def test_cancel_stops_a_running_job(client: AgaveClient, standin: AgaveStandIn) -> None:
    job = await client.submit(DEFINITION)
    standin.set_status(job.id, "RUNNING")
    await client.cancel(job.id)
    assert standin.jobs[job.id]["status"] == "STOPPED"
    assert ("POST", f"/jobs/v2/{job.id}", f"Bearer {standin.token}") in standin.requests


async def test_app_exists_for_known_apps_only(client: AgaveClient, standin: AgaveStandIn) -> None:
    standin.private_apps.add("someone-elses-app-1.0")
    assert await client.app_exists("tacobot9000-0.1.0u1") is True
    assert await client.app_exists("ghost-1.0") is False
    assert await client.app_exists("someone-elses-app-1.0") is False


async def test_an_unknown_app_is_rejected_with_the_services_message(client: AgaveClient) -> None:
    with pytest.raises(ComputeRejected, match=r"HTTP 400: No app found matching id ghost-1\.0"):
        await client.submit({**DEFINITION, "appId": "ghost-1.0"})


async def test_an_unknown_job_is_rejected(client: AgaveClient) -> None:
    with pytest.raises(ComputeRejected, match="HTTP 404: No job found with job id 42"):
        await client.status("42")
    with pytest.raises(ComputeRejected, match="HTTP 404"):
        await client.cancel("42")


async def test_ids_cannot_add_path_elements_or_a_query() -> None:
    seen: list[bytes] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path)
        return httpx.Response(404, json={"status": "error", "message": "No such thing"})

    client = AgaveClient(BASE, "t", transport=httpx.MockTransport(record))
    try:
        with pytest.raises(ComputeRejected, match="HTTP 404: No such thing"):
            await client.status("../apps/v2/tacobot")
        assert await client.app_exists("tacobot?x=1#y") is False
    finally:
        await client.close()
    assert seen == [b"/jobs/v2/..%2Fapps%2Fv2%2Ftacobot", b"/apps/v2/tacobot%3Fx%3D1%23y"]


async def test_a_wrong_token_is_rejected_without_echoing_it(standin: AgaveStandIn) -> None:
    client = AgaveClient(BASE, "wrong-token-123", transport=httpx.ASGITransport(app=standin.app))
    try:
        with pytest.raises(ComputeRejected, match="HTTP 401: Invalid credentials") as caught:
            await client.submit(DEFINITION)
        assert "wrong-token-123" not in str(caught.value)
        with pytest.raises(ComputeRejected, match="401"):
            await client.app_exists("tacobot9000-0.1.0u1")
    finally:
        await client.close()


@pytest.mark.parametrize("code", [500, 502, 503, 504])
async def test_server_errors_are_unavailable_so_callers_retry(
    client: AgaveClient, standin: AgaveStandIn, code: int
) -> None:
    standin.fail_with.append(code)
    with pytest.raises(ComputeUnavailable, match=f"HTTP {code}: stand-in told to fail"):
        await client.submit(DEFINITION)
    job = await client.submit(DEFINITION)  # the next attempt goes through
    assert job.status == "PENDING"


@pytest.mark.parametrize(
    "action", ["submit", "status", "cancel", "app_exists"], ids=lambda a: str(a)
)
@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("connection refused"), httpx.ReadTimeout("timed out")],
    ids=["refused", "timeout"],
)
async def test_an_unreachable_service_is_unavailable(action: str, failure: Exception) -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise failure

    client = AgaveClient(BASE, "t", transport=httpx.MockTransport(unreachable), timeout=1.0)
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "submit": lambda: client.submit(DEFINITION),
        "status": lambda: client.status("1"),
        "cancel": lambda: client.cancel("1"),
        "app_exists": lambda: client.app_exists("tacobot9000-0.1.0u1"),
    }
    try:
        with pytest.raises(ComputeUnavailable, match=BASE):
            await calls[action]()
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("status_code", "body"),
    [
        (200, b"<html>maintenance</html>"),
        (200, b'{"status": "success", "result": null}'),
        (201, b'{"status": "success", "result": {"name": "no id"}}'),
    ],
)
async def test_a_malformed_answer_is_unavailable(status_code: int, body: bytes) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(status_code, content=body))
    client = AgaveClient(BASE, "t", transport=transport)
    try:
        with pytest.raises(ComputeUnavailable):
            await client.submit(DEFINITION)
    finally:
        await client.close()


async def test_a_redirect_points_at_the_compute_url_setting() -> None:
    transport = httpx.MockTransport(
        lambda request: httpx.Response(301, headers={"Location": "https://elsewhere/"})
    )
    client = AgaveClient("http://agave.example.org", "t", transport=transport)
    try:
        with pytest.raises(ComputeRejected, match="PIPELINEJOBS_COMPUTE_URL"):
            await client.status("1")
    finally:
        await client.close()
