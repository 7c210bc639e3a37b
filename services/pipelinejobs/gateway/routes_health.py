"""``/healthz`` (the process answers) and ``/readyz`` (it can reach the bus and the store).

Both need no credentials, so an orchestrator can probe them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pipelinejobs.gateway.models import Health
from pipelinejobs.gateway.problems import ProblemKind, documented_problems, problem_response
from pipelinejobs.gateway.state import gateway_of
from pipelinejobs.logs import scrub

router = APIRouter(tags=["health"])

PING_TIMEOUT = 5.0


@router.get("/healthz", response_model=Health, summary="The gateway process is running")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="The bus and the store answer",
    responses=documented_problems(503),
)
async def readyz(request: Request) -> Health | JSONResponse:
    system = gateway_of(request).system
    checks = {
        "store": await probe(system.store.ping),
        "bus": await probe(system.bus.ping),
    }
    failing = [f"{name}: {state}" for name, state in checks.items() if state != "ok"]
    if failing:
        kind = ProblemKind(503, "not-ready", "Not ready")
        return problem_response(kind, "not ready; " + "; ".join(failing), errors=failing)
    return Health(status="ready", checks=checks)


async def probe(ping: Callable[[], Awaitable[None]]) -> str:
    """Say "ok", or why ``ping`` failed, without credentials (the actors' health server uses it)."""
    try:
        await asyncio.wait_for(ping(), PING_TIMEOUT)
    except TimeoutError:
        return f"no answer within {PING_TIMEOUT:.0f} s"
    except Exception as exc:  # any failure means not ready; say which
        return scrub(f"unreachable ({type(exc).__name__}: {exc})")
    return "ok"
