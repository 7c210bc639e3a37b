"""Slow and surplus clients: deadlines for reading a request, and a cap on open connections.

uvicorn bounds the idle time *between* requests (``timeout_keep_alive``) but nothing while a
request arrives: every byte resets its keep-alive timer, so a client that trickles its headers
(slowloris) or its body holds a connection, and a worker's share of sockets, for as long as it
likes (issue 13). ASGI middleware cannot help with headers, since the application only runs
once they are complete, so the deadlines live in the HTTP protocol itself, a subclass of
uvicorn's h11 protocol:

- **headers**: from the first byte of a request (or the moment a connection opens) until its
  headers are complete, at most ``header_timeout`` seconds;
- **body**: from then until the body is complete, at most ``body_timeout`` seconds, however
  steadily it trickles in.

A request that misses its deadline is answered ``408 Request Timeout`` (a problem document
saying which part was late) when nothing was answered yet, and its connection is closed; the
application reading it sees the client disconnect. The deadlines cover receiving a request
only: a slow response, or time spent by the application, is never cut short.

Connections: at most ``max_connections`` are served at once; a request arriving on one more is
answered ``503`` with ``Retry-After`` and that connection closed (the count is uvicorn's own
set of open connections, as its ``limit_concurrency`` uses, with a problem document instead of
its plain text).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from pipelinejobs.gateway.problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE, RETRY_AFTER_SECONDS
from pipelinejobs.logs import process_logger

HEADERS = "headers"
BODY = "body"


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a request may take to arrive, and how many connections are served at once."""

    header_timeout: float
    body_timeout: float
    max_connections: int


def limited_protocol(limits: ConnectionLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with ``limits`` (pass it as ``uvicorn.Config(http=...)``)."""
    return type("LimitedH11Protocol", (_LimitedH11Protocol,), {"limits": limits})


class _LimitedH11Protocol(H11Protocol):
    limits: ConnectionLimits

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.app = self._admitted(self.app)
        self._phase: str | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._log = process_logger(component="gateway")

    # -- deadlines -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(HEADERS)

    def data_received(self, data: bytes) -> None:
        if self._phase is None and self.conn.their_state is h11.IDLE:
            self._arm(HEADERS)  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()  # a pipelined request may have been parsed from what was buffered

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _follow(self) -> None:
        """Move the deadline along with the request: body once the headers are in, none once
        the whole request is."""
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            if self._phase != BODY:
                self._arm(BODY)
        elif state is not h11.IDLE:
            self._disarm()

    def _arm(self, phase: str) -> None:
        self._disarm()
        seconds = self.limits.header_timeout if phase == HEADERS else self.limits.body_timeout
        self._phase = phase
        self._deadline = self.loop.call_later(seconds, self._expired, phase, seconds)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self._phase = None, None

    def _expired(self, phase: str, seconds: float) -> None:
        self._deadline, self._phase = None, None
        if self.transport.is_closing():
            return
        self._log.warning(
            "request not received in time; connection closed", part=phase, seconds=seconds
        )
        answered = self.cycle is not None and self.cycle.response_started
        if phase == HEADERS or not answered:
            detail = (
                f"the request {phase} did not arrive within {seconds:g} seconds; send the whole "
                "request promptly"
            )
            self.transport.write(_raw_problem(408, "Request Timeout", "request-timeout", detail))
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the application's reply, if any, goes nowhere
            self.cycle.message_event.set()
        self.transport.close()

    # -- connection count ------------------------------------------------------------------
    def _admitted(self, app: Any) -> Any:
        """``app`` behind the connection limit: a request on a connection beyond the limit is
        answered 503 (and the connection closed) without reaching the gateway."""
        limits, connections = self.limits, self.connections

        async def admitted(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http" or len(connections) <= limits.max_connections:
                await app(scope, receive, send)
                return
            self._log.warning("connection limit reached", max_connections=limits.max_connections)
            detail = (
                f"the gateway serves at most {limits.max_connections} connections at once; "
                f"retry after {RETRY_AFTER_SECONDS} seconds"
            )
            body = _problem_body(503, "Service Unavailable", "too-many-connections", detail)
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})

        return admitted


def _problem_body(status: int, title: str, slug: str, detail: str) -> bytes:
    problem = {"type": PROBLEM_TYPE_BASE + slug, "title": title, "status": status, "detail": detail}
    return json.dumps(problem).encode()


def _raw_problem(status: int, title: str, slug: str, detail: str) -> bytes:
    """A whole HTTP/1.1 response written straight to the socket (no request cycle to use)."""
    body = _problem_body(status, title, slug, detail)
    lines = [
        f"HTTP/1.1 {status} {title}",
        f"content-type: {PROBLEM_MEDIA_TYPE}",
        f"content-length: {len(body)}",
        "connection: close",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
