"""Slow and surplus clients: deadlines for reading a request, and a cap on open connections.

uvicorn bounds the idle time *between* requests (``timeout_keep_alive``) but nothing while a
request arrives: every byte resets its keep-alive timer, so a client that trickles its headers
(slowloris) or its body holds a connection, and a worker's share of sockets, for as long as it
likes (issue 13). ASGI middleware cannot help with headers, since the application only runs
once they are complete, so the deadlines live in the HTTP protocol itself, a subclass of
uvicorn's httptools protocol (llhttp, the C parser of Node.js: parsing in pure Python with h11
cost a webhook about a tenth of its time in the gateway):

- **headers**: from the first byte of a request (or the moment a connection opens) until its
  headers are complete, at most ``header_timeout`` seconds, and at most
  :data:`MAX_HEAD_BYTES` of request line and headers (more is answered 400 and the connection
  closed, as h11 did: llhttp itself bounds neither);
- **body**: from then until the body is complete, at most ``body_timeout`` seconds, however
  steadily it trickles in.

Header values are read as h11 read them: control characters in a value reach the gateway, which
refuses them where they matter with a reason (``X-Message-Id`` must be printable: 422), instead
of llhttp's bare 400. That is llhttp's ``lenient_headers``; everything that frames a request
stays strict (a bare CR or LF, a duplicate or malformed ``Content-Length``, ``Content-Length``
beside ``Transfer-Encoding``, a bad header name: 400), so it opens no way to smuggle a request.

A request that misses its deadline is answered ``408 Request Timeout`` (a problem document
saying which part was late) when nothing was answered yet, and its connection is closed; the
application reading it sees the client disconnect. The deadlines cover receiving a request
only: a slow response, or time spent by the application, is never cut short. A request that
arrives whole in one read on a kept-alive connection arms no timer at all.

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

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from pipelinejobs.gateway.problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE, RETRY_AFTER_SECONDS
from pipelinejobs.logs import process_logger

HEADERS = "headers"
BODY = "body"
MAX_HEAD_BYTES = 16 * 1024
"""The most a request line and its headers may take (h11's bound, which uvicorn used before)."""
INVALID_REQUEST = "Invalid HTTP request received."
"""uvicorn's answer (400, plain text) to what is not HTTP, kept for an oversized head."""


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a request may take to arrive, and how many connections are served at once."""

    header_timeout: float
    body_timeout: float
    max_connections: int


def limited_protocol(limits: ConnectionLimits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with ``limits`` (pass it as ``uvicorn.Config(http=...)``)."""
    return type("LimitedHttpToolsProtocol", (_LimitedHttpToolsProtocol,), {"limits": limits})


class _LimitedHttpToolsProtocol(HttpToolsProtocol):
    limits: ConnectionLimits

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.parser.set_dangerous_leniencies(lenient_headers=True)
        self.app = self._admitted(self.app)
        self._receiving: str | None = None
        """The part of a request the parser is in (HEADERS, BODY), None between requests."""
        self._head_bytes = 0
        self._phase: str | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._log = process_logger(component="gateway")

    # -- what the parser has seen ----------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._receiving = HEADERS

    def on_headers_complete(self) -> None:
        self._receiving, self._head_bytes = BODY, 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._receiving = None
        super().on_message_complete()

    # -- deadlines -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(HEADERS)

    def data_received(self, data: bytes) -> None:
        if self._receiving != BODY:
            self._head_bytes += len(data)  # headers not complete yet: this read counts
        super().data_received(data)
        if self.transport.is_closing():
            return  # refused by the parser (400), or the connection is going anyway
        if self._receiving == HEADERS and self._head_bytes > MAX_HEAD_BYTES:
            self._log.warning("request headers too large", limit=MAX_HEAD_BYTES)
            self._disarm()
            self.send_400_response(INVALID_REQUEST)
            return
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _follow(self) -> None:
        """Move the deadline along with the request, once the parser has read what came: the
        body's once the headers are in, none once the whole request is. A deadline already
        running for the same part is kept, so trickling bytes never extend it."""
        if self._receiving is None:
            self._disarm()
        elif self._receiving != self._phase:
            self._arm(self._receiving)

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
