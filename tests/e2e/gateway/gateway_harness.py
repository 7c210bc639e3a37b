"""The gateway on a real port: uvicorn in-process around a started system, and an HTTP client.

``served = await serve_gateway(system)`` gives the base URL, an ``httpx.AsyncClient`` on it and
helpers for Bearer headers. ``Recorder`` is a stand-in actor that replies with what it received,
so the gateway's own behaviour is tested apart from any real actor's rules. ``bus_outage``
makes the bus refuse to publish for a while, as an unreachable broker does.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
import pytest
from fastapi import FastAPI
from pipelinejobs.actors.base import ActorContext, Message
from pipelinejobs.bus.port import Bus, Envelope
from pipelinejobs.errors import BusUnavailable, SchemaViolation
from pipelinejobs.gateway import GatewaySettings, create_app, issue_token, server_for
from pipelinejobs.host.bootstrap import System

PROBLEM = "application/problem+json"


class Recorder:
    """Replies with the message it got. A document with ``"refuse": true`` fails ``check``."""

    alias: ClassVar[str] = "pipelines-manager"

    def check(self, message: Message) -> None:
        if message.document.get("refuse") is True:
            raise SchemaViolation(
                "recorder_message", ["$.refuse: True is not allowed", "$.name: is required"]
            )

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        ctx.log.info("Received {count} fields", count=len(message.document))
        return {
            "document": message.document,
            "context": dict(message.context),
            "sender": message.sender,
            "message_type": message.message_type,
        }


@contextmanager
def bus_outage(bus: Bus, refuses: Callable[[Envelope], bool] = lambda _: True) -> Iterator[None]:
    """The bus refuses to publish (``BusUnavailable``, as when the broker is unreachable) the
    envelopes ``refuses`` picks, until the block ends; then it works again."""
    publish = bus.publish

    async def flaky(envelopes: Sequence[Envelope]) -> None:
        if any(refuses(envelope) for envelope in envelopes):
            raise BusUnavailable("the message bus is unreachable (an outage made by the test)")
        await publish(envelopes)

    bus.publish = flaky  # type: ignore[method-assign]
    try:
        yield
    finally:
        del bus.publish  # the class's own method again


@dataclass
class Served:
    system: System
    app: FastAPI
    base_url: str
    client: httpx.AsyncClient

    def token(self, user: str = "alice", roles: Sequence[str] = (), ttl: float = 600) -> str:
        return issue_token(self.system.secrets.jwt_secret, user, roles=roles, ttl=ttl)

    def bearer(self, user: str = "alice", roles: Sequence[str] = ()) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user, roles)}"}

    async def wait_reply(self, response: httpx.Response) -> dict[str, Any]:
        """The finished execution of a message reply."""
        assert response.status_code == 200, response.text
        return await self.system.wait(response.json()["result"]["executionId"])

    async def new_nonce(self, actor: str, user: str = "alice", **fields: Any) -> str:
        response = await self.client.post(
            f"/actors/v2/{actor}/nonces", json=fields, headers=self.bearer(user)
        )
        assert response.status_code == 200, response.text
        return str(response.json()["result"]["id"])

    async def nonce_view(self, actor: str, nonce: str, user: str = "alice") -> dict[str, Any]:
        """The nonce as its owner reads it (uses counted and remaining)."""
        response = await self.client.get(
            f"/actors/v2/{actor}/nonces/{nonce}", headers=self.bearer(user)
        )
        assert response.status_code == 200, response.text
        view: dict[str, Any] = response.json()["result"]
        return view


ServeGateway = Callable[..., Awaitable[Served]]


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
async def serve_gateway() -> AsyncIterator[ServeGateway]:
    """Factory: ``await serve_gateway(system, settings=None)`` serves the gateway over HTTP."""
    running: list[tuple[Any, asyncio.Task[None], httpx.AsyncClient]] = []

    async def factory(system: System, settings: GatewaySettings | None = None) -> Served:
        settings = settings or GatewaySettings()
        app = create_app(system, settings)
        sock = free_socket()
        host, port = sock.getsockname()
        server = server_for(app, host, port, settings)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        base_url = f"http://{host}:{port}"
        client = httpx.AsyncClient(base_url=base_url, timeout=30)
        running.append((server, task, client))
        return Served(system=system, app=app, base_url=base_url, client=client)

    yield factory
    for server, task, client in reversed(running):
        await client.aclose()
        server.should_exit = True
        await task


@pytest.fixture
async def served(make_system: Any, serve_gateway: ServeGateway) -> Served:
    """The gateway around a system whose only actor is the :class:`Recorder`."""
    system = await make_system(actors=[Recorder()])
    return await serve_gateway(system)


def assert_problem(response: httpx.Response, status: int, *needles: str) -> dict[str, Any]:
    """The response is a problem document of ``status`` whose detail mentions each needle; on
    Abaco's routes (``/actors/v2...``) also an Abaco error envelope saying the same."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    problem: dict[str, Any] = response.json()
    if response.url.path.startswith("/actors/v2"):
        assert (problem["status"], problem["message"]) == ("error", problem["detail"]), problem
        assert problem["result"] is None
        assert problem["version"]
    else:
        assert problem["status"] == status
    assert problem["type"].startswith("https://pipelinejobs.dev/problems/")
    for needle in needles:
        assert needle in problem["detail"], problem
    return problem
