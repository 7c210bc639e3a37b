"""Loading catalog records over HTTP: ``POST /catalog``, for administrators.

The same document and rules as ``pipelinejobs catalog load FILE`` (lists under
``experiment_designs``, ``experiments``, ``samples``, ``measurements``; validated as a whole
before anything is written; idempotent), for clients that do not share the system's store:
``pipelinejobs demo`` prepares its catalog this way against an embedded or a distributed
system alike. Only admins load records: the catalog is shared by every user's jobs. The body
is JSON whatever its content type (as ``curl --data`` sends it); an empty one loads nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from pipelinejobs.application.catalog import load_catalog
from pipelinejobs.gateway.auth import Principal, bearer_principal
from pipelinejobs.gateway.bodies import read_body
from pipelinejobs.gateway.problems import Forbidden, documented_problems
from pipelinejobs.gateway.state import gateway_of
from pipelinejobs.messages.limits import parse_json

router = APIRouter(tags=["catalog"])

_RECORD = {
    "type": "object",
    "required": ["id"],
    "properties": {"id": {"type": "string", "description": "the record's text id"}},
    "additionalProperties": True,
    "description": "a record: its text id, its parent's id (experiment_design, experiment or "
    "sample) and any further fields",
}
_REQUEST_BODY = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        section: {"type": "array", "items": _RECORD}
                        for section in (
                            "experiment_designs",
                            "experiments",
                            "samples",
                            "measurements",
                        )
                    },
                    "additionalProperties": False,
                }
            }
        },
    }
}


class CatalogLoaded(BaseModel):
    """How many records of each section the document held (all of them are now loaded)."""

    loaded: dict[str, int]


@router.post(
    "/catalog",
    response_model=CatalogLoaded,
    summary="Load catalog records (admin; idempotent, checked as a whole first)",
    responses=documented_problems(401, 403, 413, 422, 503),
    openapi_extra=_REQUEST_BODY,
)
async def load_catalog_records(
    request: Request, principal: Annotated[Principal, Depends(bearer_principal)]
) -> CatalogLoaded:
    if not principal.admin:
        raise Forbidden(
            f"user {principal.user} may not load catalog records: it takes an admin (a token "
            "with the admin role, e.g. from `pipelinejobs token issue`, or a user named in "
            "PIPELINEJOBS_ADMIN_USERS)"
        )
    gateway = gateway_of(request)
    body = await read_body(request, gateway.limits.max_bytes)
    document = parse_json(body, gateway.limits) if body.strip() else {}  # empty: nothing
    system = gateway.system
    counts = await load_catalog(system.store, document, domain=system.settings.uuid_domain)
    return CatalogLoaded(loaded=counts)
