"""``POST/GET/DELETE /actors/v2/{actor}/nonces``: manage an actor's nonces (Bearer only).

Any authenticated user may create nonces for an actor; a nonce acts as its creator. Users list,
read and delete their own nonces; admins see and delete everyone's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import ValidationError

from pipelinejobs.errors import InvalidInput, NotFound
from pipelinejobs.gateway.auth import Principal, actor_alias, bearer_principal
from pipelinejobs.gateway.bodies import read_body
from pipelinejobs.gateway.models import (
    DeletedReply,
    NonceListReply,
    NonceReply,
    NonceRequest,
    NonceView,
)
from pipelinejobs.gateway.nonces import MAX_USES, create_nonce, public_nonce
from pipelinejobs.gateway.problems import Forbidden, documented_problems
from pipelinejobs.gateway.state import gateway_of
from pipelinejobs.messages.limits import Limits, parse_json
from pipelinejobs.store.port import JSON

router = APIRouter(tags=["nonces"])

MAX_REQUEST_BYTES = 16 * 1024
NonceId = Annotated[str, Path(description="the nonce's id", max_length=200)]
_REQUEST_BODY = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": NonceRequest.model_json_schema(
                    ref_template="#/components/schemas/{model}"
                )
            }
        },
    }
}


@router.post(
    "/actors/v2/{actor}/nonces",
    response_model=NonceReply,
    summary="Create a nonce for an actor",
    description="The reply's result.id is the value for x-nonce. Defaults: level EXECUTE, "
    "maxUses -1 (unlimited), no expiry.",
    responses=documented_problems(401, 404, 413, 422, 503),
    openapi_extra=_REQUEST_BODY,
)
async def post_nonce(
    request: Request,
    alias: Annotated[str, Depends(actor_alias)],
    principal: Annotated[Principal, Depends(bearer_principal)],
) -> NonceReply:
    gateway = gateway_of(request)
    wanted = _nonce_request(await read_body(request, MAX_REQUEST_BYTES))
    nonce = await create_nonce(
        gateway.system.store,
        alias,
        principal.user,
        wanted.level,
        wanted.maxUses,
        wanted.description,
        wanted.expiresIn,
    )
    return NonceReply(message="Nonce created.", result=NonceView(**nonce))


@router.get(
    "/actors/v2/{actor}/nonces",
    response_model=NonceListReply,
    summary="List an actor's nonces (yours; all of them for admins)",
    responses=documented_problems(401, 404, 422, 503),
)
async def list_nonces(
    request: Request,
    alias: Annotated[str, Depends(actor_alias)],
    principal: Annotated[Principal, Depends(bearer_principal)],
) -> NonceListReply:
    nonces = await gateway_of(request).system.store.list_nonces(alias)
    visible = [NonceView(**public_nonce(n)) for n in nonces if _owned(principal, n)]
    return NonceListReply(message="Nonces retrieved.", result=visible)


@router.get(
    "/actors/v2/{actor}/nonces/{nonce_id}",
    response_model=NonceReply,
    summary="One of your nonces",
    responses=documented_problems(401, 404, 422, 503),
)
async def get_nonce(
    request: Request,
    alias: Annotated[str, Depends(actor_alias)],
    principal: Annotated[Principal, Depends(bearer_principal)],
    nonce_id: NonceId,
) -> NonceReply:
    nonce = await gateway_of(request).system.store.get_nonce(nonce_id)
    if nonce is None or nonce.get("actor") != alias or not _owned(principal, nonce):
        raise NotFound(f"you have no nonce with that id for actor {alias}")
    return NonceReply(message="Nonce retrieved.", result=NonceView(**public_nonce(nonce)))


@router.delete(
    "/actors/v2/{actor}/nonces/{nonce_id}",
    response_model=DeletedReply,
    summary="Delete a nonce; it authorizes nothing from then on",
    responses=documented_problems(401, 403, 404, 422, 503),
)
async def delete_nonce(
    request: Request,
    alias: Annotated[str, Depends(actor_alias)],
    principal: Annotated[Principal, Depends(bearer_principal)],
    nonce_id: NonceId,
) -> DeletedReply:
    store = gateway_of(request).system.store
    nonce = await store.get_nonce(nonce_id)
    if nonce is None or nonce.get("actor") != alias:
        raise NotFound(f"actor {alias} has no nonce with that id")
    if not _owned(principal, nonce):
        raise Forbidden(
            "that nonce belongs to another user; only its owner or an admin may delete it"
        )
    if not await store.delete_nonce(alias, nonce_id):
        raise NotFound(f"actor {alias} has no nonce with that id")
    return DeletedReply(message="Nonce deleted.")


def _nonce_request(body: bytes) -> NonceRequest:
    """The request body, curl-friendly: JSON whatever the content type; empty means defaults."""
    document = parse_json(body, Limits(max_bytes=MAX_REQUEST_BYTES)) if body.strip() else {}
    try:
        return NonceRequest.model_validate(document)
    except ValidationError as exc:
        lines = [
            f"$.{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
            if error["loc"]
            else f"$: {error['msg']}"
            for error in exc.errors()
        ]
        raise NonceRequestInvalid(lines) from None


class NonceRequestInvalid(InvalidInput):
    """A nonce request that breaks its schema; ``problems`` names each field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "the nonce request is not valid: "
            + "; ".join(problems)
            + f". Accepted: maxUses (-1, or 1 to {MAX_USES}), level (NONE, READ, EXECUTE, UPDATE), "
            "description, expiresIn (seconds)"
        )


def _owned(principal: Principal, nonce: JSON) -> bool:
    return principal.admin or nonce.get("owner") == principal.user
