"""``GET /files/{uuid}``: one file record, with the jobs that generated it (``generated_by``).

``GET /files`` (in the read routes) lists them, by the job that made them or by exact name.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from pipelinejobs.domain.identifiers import UUIDType, require_uuid
from pipelinejobs.errors import NotFound
from pipelinejobs.gateway.auth import bearer_principal
from pipelinejobs.gateway.problems import documented_problems
from pipelinejobs.gateway.routes_read import public
from pipelinejobs.gateway.state import gateway_of

router = APIRouter(tags=["read"], dependencies=[Depends(bearer_principal)])


@router.get(
    "/files/{uuid}",
    response_model=dict[str, Any],
    responses=documented_problems(401, 404, 422, 503),
    summary="One file, with the jobs that generated it",
)
async def get_file(request: Request, uuid: Annotated[str, Path(max_length=100)]) -> dict[str, Any]:
    file = await gateway_of(request).system.store.get_file(require_uuid(uuid, UUIDType.FILE))
    if file is None:
        raise NotFound(f"no file {uuid}; GET /files?name=PATH finds one by its name")
    return public(file)
