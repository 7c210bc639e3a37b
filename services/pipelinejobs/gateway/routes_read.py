"""The read API: pipelines, jobs (with their history), files and the event feed, for any
authenticated user.

Documents are returned as stored, minus private fields (top-level keys starting with ``_``).
A document embeds its first :data:`HISTORY_LIMIT` events as ``history``; a longer history says
so (``history_truncated: true`` and ``history_next``, the events page that continues it). The
events themselves are paged from ``/jobs/{uuid}/events`` and ``/pipelines/{uuid}/events``, and
every event of every stream from ``/events`` in commit order. Lists never carry histories.
Reading needs a Bearer token; nonces belong to actor routes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from pipelinejobs.domain.identifiers import UUIDType, require_uuid, uuid_type
from pipelinejobs.domain.states import JobState
from pipelinejobs.errors import NotFound
from pipelinejobs.gateway.auth import bearer_principal
from pipelinejobs.gateway.models import EventPage, Page
from pipelinejobs.gateway.problems import documented_problems
from pipelinejobs.gateway.state import gateway_of
from pipelinejobs.store.port import DocumentKind, FeedFilter

router = APIRouter(tags=["read"], dependencies=[Depends(bearer_principal)])

MAX_PAGE = 500
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="items per page")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="items to skip")]
_LIST_PROBLEMS = documented_problems(401, 422, 503)
_ONE_PROBLEMS = documented_problems(401, 404, 422, 503)
HISTORY_LIMIT = 500
"""Events embedded in ``GET /jobs/{uuid}`` and ``GET /pipelines/{uuid}``; the rest are paged."""
EVENT_PAGE = 1000
EventLimit = Annotated[int, Query(ge=1, le=EVENT_PAGE, description="events per page")]
After = Annotated[
    int, Query(ge=0, description="the cursor: events after this one (the last page's next)")
]


@router.get("/pipelines", response_model=Page, responses=_LIST_PROBLEMS, summary="Pipelines")
async def list_pipelines(
    request: Request,
    state: Annotated[Literal["ACTIVE", "RETIRED"] | None, Query()] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page:
    filters: dict[str, str] = {"state": state} if state else {}
    return await _page(request, "pipelines", filters, limit, offset)


@router.get(
    "/pipelines/{uuid}",
    response_model=dict[str, Any],
    responses=_ONE_PROBLEMS,
    summary="One pipeline",
)
async def get_pipeline(
    request: Request, uuid: Annotated[str, Path(max_length=100)]
) -> dict[str, Any]:
    return await _one(request, "pipelines", require_uuid(uuid, UUIDType.PIPELINE))


@router.get("/jobs", response_model=Page, responses=_LIST_PROBLEMS, summary="Jobs")
async def list_jobs(
    request: Request,
    state: Annotated[JobState | None, Query()] = None,
    pipeline_uuid: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page:
    filters: dict[str, str] = {}
    if state is not None:
        filters["state"] = state.value
    if pipeline_uuid is not None:
        filters["pipeline_uuid"] = require_uuid(pipeline_uuid, UUIDType.PIPELINE)
    return await _page(request, "jobs", filters, limit, offset)


@router.get(
    "/jobs/{uuid}",
    response_model=dict[str, Any],
    responses=_ONE_PROBLEMS,
    summary="One job, with its history",
)
async def get_job(request: Request, uuid: Annotated[str, Path(max_length=100)]) -> dict[str, Any]:
    return await _one(request, "jobs", require_uuid(uuid, UUIDType.PIPELINEJOB))


@router.get(
    "/jobs/{uuid}/events",
    response_model=EventPage,
    responses=_ONE_PROBLEMS,
    summary="A job's history, a page at a time",
)
async def job_events(
    request: Request,
    uuid: Annotated[str, Path(max_length=100)],
    after: After = 0,
    limit: EventLimit = 100,
) -> EventPage:
    return await _history(request, "jobs", require_uuid(uuid, UUIDType.PIPELINEJOB), after, limit)


@router.get(
    "/pipelines/{uuid}/events",
    response_model=EventPage,
    responses=_ONE_PROBLEMS,
    summary="A pipeline's history, a page at a time",
)
async def pipeline_events(
    request: Request,
    uuid: Annotated[str, Path(max_length=100)],
    after: After = 0,
    limit: EventLimit = 100,
) -> EventPage:
    return await _history(request, "pipelines", require_uuid(uuid, UUIDType.PIPELINE), after, limit)


@router.get(
    "/events",
    response_model=EventPage,
    responses=_LIST_PROBLEMS,
    summary="Every event of every job and pipeline, in commit order",
)
async def feed(
    request: Request,
    after: After = 0,
    limit: EventLimit = 100,
    job: Annotated[str | None, Query(max_length=100, description="one job's events")] = None,
    pipeline: Annotated[
        str | None, Query(max_length=100, description="a pipeline's events and its jobs'")
    ] = None,
    name: Annotated[str | None, Query(max_length=100, description="event name")] = None,
    state: Annotated[
        str | None, Query(max_length=100, description="the job's or pipeline's state after it")
    ] = None,
) -> EventPage:
    filters = FeedFilter(
        job=None if job is None else require_uuid(job, UUIDType.PIPELINEJOB),
        pipeline=None if pipeline is None else require_uuid(pipeline, UUIDType.PIPELINE),
        name=None if name is None else name.lower(),
        state=None if state is None else state.upper(),
    )
    events = await gateway_of(request).system.store.read_feed(
        after=after, limit=limit, filters=filters
    )
    return EventPage(
        items=[event.public() for event in events],
        after=after,
        limit=limit,
        next=events[-1].position if events else after,
    )


@router.get("/files", response_model=Page, responses=_LIST_PROBLEMS, summary="Files")
async def list_files(
    request: Request,
    generated_by: Annotated[
        str | None, Query(max_length=100, description="uuid of the job that made them")
    ] = None,
    name: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=4096,
            description="the file's name, exactly: its path on the archive system",
        ),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page:
    if generated_by is not None:
        uuid_type(generated_by)  # refuses what is not a typed UUID, naming the problem
    files = await gateway_of(request).system.store.find_files(
        generated_by=generated_by, name=name, limit=limit, offset=offset
    )
    return Page(items=[public(f) for f in files], limit=limit, offset=offset)


async def _page(
    request: Request, kind: DocumentKind, filters: dict[str, str], limit: int, offset: int
) -> Page:
    store = gateway_of(request).system.store
    documents = await store.find_documents(kind, filters, limit=limit, offset=offset)
    total = await store.count_documents(kind, filters)
    return Page(items=[public(d.body) for d in documents], total=total, limit=limit, offset=offset)


async def _one(request: Request, kind: DocumentKind, uuid: str) -> dict[str, Any]:
    store = gateway_of(request).system.store
    document = await store.get_document(kind, uuid)
    if document is None:
        raise NotFound(f"no {_noun(kind)} {uuid}")
    # Two reads, two moments: an event appended between them is not yet in the projection
    # (state, last_event). Show the history up to the version the projection describes.
    events = [
        event
        for event in await store.read_events(kind, uuid, limit=HISTORY_LIMIT + 1)
        if event.version <= document.version
    ]
    body = public(document.body)
    body["history"] = [event.event for event in events[:HISTORY_LIMIT]]
    if len(events) > HISTORY_LIMIT:
        body["history_truncated"] = True
        body["history_next"] = f"/{kind}/{uuid}/events?after={HISTORY_LIMIT}&limit={EVENT_PAGE}"
    return body


async def _history(
    request: Request, kind: DocumentKind, uuid: str, after: int, limit: int
) -> EventPage:
    store = gateway_of(request).system.store
    events = await store.read_events(kind, uuid, after=after, limit=limit + 1)
    if not events and await store.get_document(kind, uuid) is None:
        raise NotFound(f"no {_noun(kind)} {uuid}")
    page = events[:limit]
    return EventPage(
        items=[{"version": event.version, **event.event} for event in page],
        after=after,
        limit=limit,
        next=page[-1].version if len(events) > limit else None,
    )


def _noun(kind: DocumentKind) -> str:
    return "pipeline" if kind == "pipelines" else "job"


def public(document: dict[str, Any]) -> dict[str, Any]:
    """The document without its private fields."""
    return {key: value for key, value in document.items() if not key.startswith("_")}
