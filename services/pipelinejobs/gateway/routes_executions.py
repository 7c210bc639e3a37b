"""``GET /actors/v2/{actor}/executions/{id}`` and ``.../logs``: what became of a message.

Only its sender reads an execution: the same person, whether the message was sent with their
Bearer token or with one of their nonces (a nonce of level READ for the actor reads them too);
admins read all. Others get 403, so the execution's result (which may carry an update token)
stays with its sender.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from pipelinejobs.domain.nonces import Level
from pipelinejobs.errors import NotFound
from pipelinejobs.gateway.auth import Principal, actor_alias, actor_principal
from pipelinejobs.gateway.models import ExecutionReply, ExecutionView, LogsReply, LogsView
from pipelinejobs.gateway.problems import Forbidden, documented_problems
from pipelinejobs.gateway.state import Gateway, gateway_of

router = APIRouter(tags=["actors"])

ExecutionId = Annotated[str, Path(description="the executionId of a message reply", max_length=64)]


@router.get(
    "/actors/v2/{actor}/executions/{execution_id}",
    response_model=ExecutionReply,
    response_model_by_alias=True,
    summary="Status, timestamps and result of an execution",
    responses=documented_problems(401, 403, 404, 422, 503),
)
async def get_execution(
    request: Request,
    alias: Annotated[str, Depends(actor_alias)],
    principal: Annotated[Principal, Depends(actor_principal(Level.READ))],
    execution_id: ExecutionId,
) -> ExecutionReply:
    gateway = gateway_of(request)
    execution = await _readable_execution(gateway, alias, execution_id, principal)
    view = ExecutionView(
        id=execution["id"],
        actorId=alias,
        status=execution["status"],
        messageId=execution["message_id"],
        messageType=execution.get("message_type"),
        sender=execution.get("sender"),
        submitted=execution.get("submitted"),
        started=execution.get("started"),
        finished=execution.get("finished"),
        attempts=execution.get("attempts") or 0,
        result=execution.get("result"),
        error=execution.get("error"),
        _links=_links(gateway, alias, execution_id),
    )
    return ExecutionReply(message="Execution retrieved successfully.", result=view)


@router.get(
    "/actors/v2/{actor}/executions/{execution_id}/logs",
    response_model=LogsReply,
    response_model_by_alias=True,
    summary="The log lines of an execution",
    responses=documented_problems(401, 403, 404, 422, 503),
)
async def get_execution_logs(
    request: Request,
    alias: Annotated[str, Depends(actor_alias)],
    principal: Annotated[Principal, Depends(actor_principal(Level.READ))],
    execution_id: ExecutionId,
) -> LogsReply:
    gateway = gateway_of(request)
    execution = await _readable_execution(gateway, alias, execution_id, principal)
    lines = [str(line) for line in execution.get("logs") or []]
    view = LogsView(logs="\n".join(lines), _links=_links(gateway, alias, execution_id))
    return LogsReply(message="Logs retrieved successfully.", result=view)


async def _readable_execution(
    gateway: Gateway, alias: str, execution_id: str, principal: Principal
) -> dict[str, Any]:
    execution = await gateway.system.store.get_execution(execution_id)
    if execution is None or execution.get("actor") != alias:
        raise NotFound(f"actor {alias} has no execution {execution_id!r:.80}")
    if not principal.may_read(execution.get("sender")):
        raise Forbidden(
            f"execution {execution_id} was sent by someone else; only its sender or an admin "
            "may read it"
        )
    return execution


def _links(gateway: Gateway, alias: str, execution_id: str) -> dict[str, str]:
    base = f"{gateway.public_url}/actors/v2/{alias}"
    return {
        "self": f"{base}/executions/{execution_id}",
        "logs": f"{base}/executions/{execution_id}/logs",
        "actor": base,
    }
