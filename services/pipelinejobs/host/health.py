"""The health server of an actor process: ``/healthz`` and ``/readyz`` on a port of its own.

An actor process serves no HTTP otherwise, so without this an orchestrator cannot tell a stuck
consumer from a working one. With ``PIPELINEJOBS_HEALTH_PORT`` set, ``pipelinejobs actor NAME``
answers (without credentials, like the gateway's probes):

- ``/healthz`` (liveness): 200 while the event loop is responsive. A heartbeat task ticks every
  :data:`BEAT_INTERVAL` seconds; when the last tick is older than :data:`STALL_LIMIT` the loop was
  blocked and the answer is 503 (a loop blocked for good does not answer at all, and the probe
  times out, which fails it the same way).
- ``/readyz`` (readiness): 200 when the store answers a ping, the bus is connected and the
  process consumes every queue it was started for; else 503 naming what fails.

The server starts before the system does (readiness says "not started" until it has) and stops
after it has closed, so liveness keeps answering while in-flight messages finish on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pipelinejobs.gateway.routes_health import probe
from pipelinejobs.host.bootstrap import System
from pipelinejobs.logs import process_logger

BEAT_INTERVAL = 1.0
STALL_LIMIT = 10.0
"""Seconds without a heartbeat after which the event loop counts as blocked."""

_log = process_logger(component="health")


class Heartbeat:
    """Ticks on the event loop; its age says how long ago the loop last ran it."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    async def run(self) -> None:
        while True:
            self.last = time.monotonic()
            await asyncio.sleep(BEAT_INTERVAL)

    def age(self) -> float:
        return time.monotonic() - self.last


def health_app(system: System, aliases: Sequence[str], heartbeat: Heartbeat) -> Starlette:
    """The two probe routes of one actor process consuming ``aliases``."""
    expected = list(aliases)

    async def healthz(request: Request) -> JSONResponse:
        age = heartbeat.age()
        if age > STALL_LIMIT:
            detail = f"event loop blocked: last heartbeat {age:.1f} s ago (limit {STALL_LIMIT} s)"
            return JSONResponse({"status": "stalled", "detail": detail}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        consuming = system.runtime.consuming if system.runtime is not None else ()
        missing = [alias for alias in expected if alias not in consuming]
        checks = {
            "store": await probe(system.store.ping),
            "bus": await probe(system.bus.ping),
            "consuming": "ok" if not missing else f"not consuming {', '.join(missing)}",
        }
        if system.runtime is None:
            checks["consuming"] = "not started"
        failing = [f"{name}: {state}" for name, state in checks.items() if state != "ok"]
        if failing:
            detail = "not ready; " + "; ".join(failing)
            return JSONResponse(
                {"status": "not ready", "detail": detail, "checks": checks}, status_code=503
            )
        return JSONResponse({"status": "ready", "checks": checks})

    return Starlette(
        routes=[Route("/healthz", healthz), Route("/readyz", readyz)],
    )


@contextlib.asynccontextmanager
async def serving_health(
    system: System, aliases: Sequence[str], sock: socket.socket | None
) -> AsyncIterator[None]:
    """Serve the probes of ``system`` on ``sock`` for the duration (nothing when it is None)."""
    if sock is None:
        yield
        return
    from pipelinejobs.host.process import ManagedServer  # process imports this module

    heartbeat = Heartbeat()
    beating = asyncio.create_task(heartbeat.run(), name="health-heartbeat")
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        health_app(system, aliases, heartbeat),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="off",
    )
    server = ManagedServer(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="health")
    _log.info("health server listening", host=host, port=port, paths=["/healthz", "/readyz"])
    try:
        yield
    finally:
        server.should_exit = True
        await serving
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
