"""A tiny real HTTP server on 127.0.0.1 that records notification POSTs in arrival order.

Plain ``asyncio.start_server`` and HTTP/1.1 with ``Connection: close``: enough for a client
that POSTs JSON, and it answers each request with the next queued status code (200 when none
is queued), so tests can make the receiver fail for a while. A queued ``DROP`` closes the
connection without any answer, as a gateway that is going down does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

DROP = 0
"""A queued answer: close the connection without answering."""


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    method: str
    target: str
    body: Any
    answered: int

    @property
    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.target).query).items()}

    @property
    def status(self) -> str:
        return str(self.body["status"])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class NotificationReceiver:
    port: int = field(default_factory=free_port)
    answers: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path_and_query: str) -> str:
        return f"http://127.0.0.1:{self.port}{path_and_query}"

    @property
    def delivered(self) -> list[Received]:
        """Requests answered with a 2xx status."""
        return [r for r in self.requests if 200 <= r.answered < 300]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def wait_for(self, count: int, *, delivered: bool = True, limit: float = 60.0) -> None:
        """Wait until ``count`` requests arrived (delivered ones only by default)."""
        async with asyncio.timeout(limit):
            while len(self.delivered if delivered else self.requests) < count:
                self._arrived.clear()
                await self._arrived.wait()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            code = self.answers.pop(0) if self.answers else 200
            self.requests.append(Received(method, target, json.loads(body or b"null"), code))
            self._arrived.set()
            if code == DROP:
                return
            writer.write(
                f"HTTP/1.1 {code} X\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
                "Connection: close\r\n\r\nok".encode()
            )
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@pytest.fixture
async def receiver() -> AsyncIterator[NotificationReceiver]:
    """A started receiver, stopped after the test (conftests import this fixture)."""
    receiver = NotificationReceiver()
    await receiver.start()
    yield receiver
    await receiver.stop()
