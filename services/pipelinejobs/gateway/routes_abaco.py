"""Abaco's read routes for actors: ``GET /actors/v2``, ``/actors/v2/{actor}`` and
``/actors/v2/{actor}/executions``, which the Abaco CLI calls (``abaco ls``, ``abaco
executions ACTOR``) beside the message and execution routes.

Replies are Abaco envelopes (``status``, ``message``, ``result``, ``version``). The actors are
ours, always READY (they accept messages; a queue holds them while no consumer runs), listed
for any authenticated user. An actor's execution list holds only the caller's own executions,
sent with their Bearer token or one of their nonces, newest first: the same ones they may read
one by one (an admin reads any execution by id, but lists only their own here too).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from pipelinejobs.domain.nonces import Level
from pipelinejobs.gateway.auth import Principal, actor_alias, actor_principal, bearer_principal
from pipelinejobs.gateway.models import (
    ActorListReply,
    ActorReply,
    ActorView,
    ExecutionsReply,
    ExecutionSummary,
    ExecutionsView,
)
from pipelinejobs.gateway.problems import documented_problems
from pipelinejobs.gateway.state import Gateway, gateway_of

router = APIRouter(tags=["actors"])

MAX_EXECUTIONS = 500
DESCRIPTIONS = {
    "pipelines-manager": "Registers pipelines, updates and retires them",
    "jobs-manager": "Applies job events (run, finish, fail...) and compute-service callbacks",
    "jobs-indexer": "Indexes a finished job's archived outputs as file records",
    "agave-proxy": "Creates a job and launches it on the compute service",
}


@router.get(
    "/actors/v2",
    response_model=ActorListReply,
    response_model_by_alias=True,
    summary="The actors (Abaco's actor list)",
    responses=documented_problems(401, 503),
)
async def list_actors(
    request: Request, _principal: Annotated[Principal, Depends(bearer_principal)]
) -> ActorListReply:
    gateway = gateway_of(request)
    views = [_view(gateway, alias) for alias in gateway.directory.aliases]
    return ActorListReply(message="Actors retrieved successfully.", result=views)


@router.get(
    "/actors/v2/{actor}",
    response_model=ActorReply,
    response_model_by_alias=True,
    summary="One actor",
    description="Authenticate with a Bearer token, or a nonce of level READ for this actor.",
    responses=documented_problems(401, 403, 404, 422, 503),
)
async def get_actor(
    request: Request,
    alias: Annotated[str, Depends(actor_alias)],
    _principal: Annotated[Principal, Depends(actor_principal(Level.READ))],
) -> ActorReply:
    view = _view(gateway_of(request), alias)
    return ActorReply(message="Actor retrieved successfully.", result=view)


@router.get(
    "/actors/v2/{actor}/executions",
    response_model=ExecutionsReply,
    response_model_by_alias=True,
    summary="The caller's executions of an actor, newest first",
    description="Only the executions of messages the caller sent (with their Bearer token or "
    "one of their nonces). Authenticate with a Bearer token, or a nonce of level READ.",
    responses=documented_problems(401, 403, 404, 422, 503),
)
async def list_executions(
    request: Request,
    alias: Annotated[str, Depends(actor_alias)],
    principal: Annotated[Principal, Depends(actor_principal(Level.READ))],
    limit: Annotated[int, Query(ge=1, le=MAX_EXECUTIONS, description="items per page")] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="items to skip")] = 0,
) -> ExecutionsReply:
    gateway = gateway_of(request)
    found = await gateway.system.store.find_executions(
        alias, senders=principal.senders, limit=limit, offset=offset
    )
    summaries = [
        ExecutionSummary(
            id=execution["id"],
            status=execution["status"],
            messageReceivedTime=execution.get("submitted"),
            startTime=execution.get("started"),
            finishTime=execution.get("finished"),
        )
        for execution in found
    ]
    view = ExecutionsView(
        actorId=gateway.directory.actor_id(alias),
        ids=[summary.id for summary in summaries],
        executions=summaries,
        limit=limit,
        offset=offset,
    )
    return ExecutionsReply(message="Actor executions retrieved successfully.", result=view)


def _view(gateway: Gateway, alias: str) -> ActorView:
    actor_id = gateway.directory.actor_id(alias)
    base = f"{gateway.public_url}/actors/v2/{actor_id}"
    return ActorView(
        id=actor_id,
        name=alias,
        description=DESCRIPTIONS.get(alias, ""),
        status="READY",
        _links={"self": base, "executions": f"{base}/executions", "messages": f"{base}/messages"},
    )
