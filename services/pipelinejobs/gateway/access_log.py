"""One process-log line per request, with nothing secret in it; and a last-resort 500.

The line has the method, the path with any nonce id masked (never the query string, which
carries tokens and nonces), the status and the duration. Headers are never logged. An exception
no handler took becomes a problem document here, logged (redacted) with its traceback, so the
server's own logger never prints it.

The request lines can be turned off (``requests=False``: ``pipelinejobs up`` on a terminal,
where a person reads the log); failures are logged all the same.
"""

from __future__ import annotations

import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipelinejobs.gateway.problems import INTERNAL, is_abaco_path, problem_response
from pipelinejobs.logs import REDACTED, process_logger, scrub

_NONCE_SEGMENT = re.compile(r"(/nonces/)[^/]+")
_PROBES = frozenset({"/healthz", "/readyz"})


def loggable_path(path: str) -> str:
    """The request path with nonce ids masked and token-like text scrubbed."""
    return scrub(_NONCE_SEGMENT.sub(r"\1" + REDACTED, path))


class AccessLog:
    """ASGI middleware: log each HTTP request once it is answered."""

    def __init__(self, app: ASGIApp, *, requests: bool = True) -> None:
        self.app = app
        self.requests = requests
        self.log = process_logger(component="gateway")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": None}

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except Exception:
            # Logged here, redacted, with its traceback; the server's logger never sees it.
            self.log.exception(
                "request failed",
                method=scope.get("method"),
                path=loggable_path(scope.get("path", "")),
            )
            if status["code"] is None:
                response = problem_response(
                    INTERNAL,
                    "the gateway failed unexpectedly; the failure is logged",
                    abaco=is_abaco_path(scope.get("path", "")),
                )
                await response(scope, receive, send_and_note)
        if not self.requests:
            return
        path = scope.get("path", "")
        quiet = path in _PROBES and status["code"] == 200  # orchestrators probe every few seconds
        (self.log.debug if quiet else self.log.info)(
            "http request",
            method=scope.get("method"),
            path=loggable_path(path),
            status=status["code"],
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
