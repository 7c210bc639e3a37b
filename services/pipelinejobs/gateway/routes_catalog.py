"""The catalog read API: experiment designs, experiments, samples and measurements.

One set of routes per level of the hierarchy, named by its section (as in the catalog
document ``pipelinejobs catalog load`` reads):

- ``GET /catalog/{section}``: the records of that level, by text id, paged;
- ``GET /catalog/{section}/{record_id}``: one record, named by its text id
  (``sample.tacc.abcde``) or its typed UUID (a UUID of another type is refused, 422);
- ``GET /catalog/{section}/{record_id}/{children}``: the records just below it
  (``/catalog/experiments/{id}/samples``, ``/catalog/samples/{id}/measurements``...);
- ``GET /catalog/records/{record_id}``: a record of any level, for ids whose level the caller
  does not know (a job's ``derived_from`` holds measurement or sample UUIDs alike).

Records carry their typed ``uuid`` (what jobs' ``derived_from`` holds), text ``id``, ``type``
and ``child_of`` (their parents' uuids). Reading needs a Bearer token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from pipelinejobs.application.catalog import KINDS, RecordKind, find, looks_like_uuid
from pipelinejobs.domain.identifiers import normalize_uuid
from pipelinejobs.errors import NotFound
from pipelinejobs.gateway.auth import bearer_principal
from pipelinejobs.gateway.models import Page
from pipelinejobs.gateway.problems import documented_problems
from pipelinejobs.gateway.routes_read import Limit, Offset, public
from pipelinejobs.gateway.state import gateway_of

router = APIRouter(tags=["catalog"], dependencies=[Depends(bearer_principal)])

RecordId = Annotated[
    str, Path(min_length=1, max_length=200, description="text id or typed UUID of the record")
]
_LIST_PROBLEMS = documented_problems(401, 422, 503)
_ONE_PROBLEMS = documented_problems(401, 404, 422, 503)


def _add_routes(kind: RecordKind, child: RecordKind | None) -> None:
    """The routes of one catalog level (closures over ``kind``: one spelling for all four)."""
    noun = kind.record_type.replace("_", " ")

    async def list_records(request: Request, limit: Limit = 50, offset: Offset = 0) -> Page:
        store = gateway_of(request).system.store
        records = await store.find_catalog_records(kind.record_type, limit=limit, offset=offset)
        total = await store.count_catalog_records(kind.record_type)
        return Page(items=[public(r) for r in records], total=total, limit=limit, offset=offset)

    async def get_record(request: Request, record_id: RecordId) -> dict[str, Any]:
        return public(await _record(request, kind, record_id))

    router.add_api_route(
        f"/catalog/{kind.section}",
        list_records,
        methods=["GET"],
        response_model=Page,
        responses=_LIST_PROBLEMS,
        summary=f"Catalog: {kind.section.replace('_', ' ')}",
        name=f"list_{kind.section}",
    )
    router.add_api_route(
        f"/catalog/{kind.section}/{{record_id}}",
        get_record,
        methods=["GET"],
        response_model=dict[str, Any],
        responses=_ONE_PROBLEMS,
        summary=f"Catalog: one {noun}",
        name=f"get_{kind.record_type}",
    )
    if child is None:
        return
    child_kind = child

    async def list_children(request: Request, record_id: RecordId) -> Page:
        parent = await _record(request, kind, record_id)
        store = gateway_of(request).system.store
        children = await store.find_catalog_children(parent["uuid"], child_kind.record_type)
        items = [public(c) for c in children]
        return Page(items=items, total=len(items), limit=max(len(items), 1), offset=0)

    router.add_api_route(
        f"/catalog/{kind.section}/{{record_id}}/{child.section}",
        list_children,
        methods=["GET"],
        response_model=Page,
        responses=_ONE_PROBLEMS,
        summary=f"Catalog: the {child.section.replace('_', ' ')} of one {noun}",
        name=f"list_{child.section}_of_{kind.record_type}",
    )


@router.get(
    "/catalog/records/{record_id}",
    response_model=dict[str, Any],
    responses=_ONE_PROBLEMS,
    summary="Catalog: one record of any level",
)
async def get_any_record(request: Request, record_id: RecordId) -> dict[str, Any]:
    key = normalize_uuid(record_id) if looks_like_uuid(record_id) else record_id
    record = await gateway_of(request).system.store.get_catalog_record(key)
    if record is None:
        raise NotFound(f"no catalog record {record_id!r:.80}")
    return public(record)


async def _record(request: Request, kind: RecordKind, record_id: str) -> dict[str, Any]:
    record = await find(gateway_of(request).system.store, record_id, kind.record_type)
    if record is None:
        raise NotFound(
            f"no {kind.record_type.replace('_', ' ')} {record_id!r:.80} in the catalog; "
            f"GET /catalog/{kind.section} lists them"
        )
    return record


for _kind, _child in zip(KINDS, [*KINDS[1:], None], strict=True):
    _add_routes(_kind, _child)
