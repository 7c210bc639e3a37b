"""The jobs-indexer actor: links the files under a finished job's archive path to the job.

Two actions, as in the documentation. ``index`` lists the job's archive path on its storage
system, keeps the files the request's filters select, records each as a file at the requested
processing level ``generated_by`` the job, and then sends itself ``indexed``, which returns the
job from INDEXING to FINISHED. Both arrive as a JSON document, as URL parameters, or as URL
parameters plus a body such as ``{"filters": [...]}``.

Everything that can be refused is checked before anything is written: the request's schema,
the filters (compiled), the token, the archive path and its listing (read before the ``index``
event is recorded, so a storage failure leaves the job untouched), and the job's state. A file
record another job generated is never relinked (its level and ``generated_by`` stay) unless the
request carries an admin token: a job's archive path, and so its files, belong to it. A
redelivered ``index`` finds its event already in the job's history; it links the files again
(an upsert by file uuid, so nothing is duplicated) and re-sends the same ``indexed`` message,
which the job recognizes as already applied. A message the job already recorded is not
authorized again (its admin token may have expired since); the token is checked before the
listing and once more on the version of the job the event is appended to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pipelinejobs.actors.base import ActorContext, Message
from pipelinejobs.application.authorization import Authority, authorize
from pipelinejobs.application.filters import compile_filters, filters_from_parameter
from pipelinejobs.application.ledger import load, record_job_event
from pipelinejobs.domain.actors import JOBS_INDEXER
from pipelinejobs.domain.archive import normalize_archive_path
from pipelinejobs.domain.filetypes import infer_filetype
from pipelinejobs.domain.identifiers import UUIDType, file_uuid, require_uuid
from pipelinejobs.domain.states import JobEvent
from pipelinejobs.errors import Conflict, InvalidInput
from pipelinejobs.messages.schemas import registry
from pipelinejobs.settings import Settings
from pipelinejobs.storage.port import Storage
from pipelinejobs.store.port import StoredDocument

DEFAULT_LEVEL = "1"
"""Processing level of indexed files when the request names none (the schema lists the rest)."""
REPLY_FILES_LIMIT = 100
"""Most file names listed in the reply; the count is always complete."""

_SCHEMAS = {"index": "pipelinejob_index", "indexed": "pipelinejob_indexed"}
_URL_FIELDS = ("uuid", "token", "level")


class JobsIndexer:
    """Indexes job outputs: ``index`` and ``indexed``."""

    alias: ClassVar[str] = JOBS_INDEXER

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def check(self, message: Message) -> None:
        """What the gateway checks before accepting the message (HTTP 422 instead of ERROR):
        the request's schema and, for ``index``, that every filter compiles."""
        request = request_of(message)
        if request["name"] == "index":
            compile_filters(request.get("filters"))

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        request = request_of(message)
        action = request["name"]
        ctx.log.debug("Action selected: {action}", action=action)
        if action == "index":
            return await self._index(request, ctx)
        return await self._indexed(request, ctx)

    async def _index(self, request: Mapping[str, Any], ctx: ActorContext) -> Mapping[str, Any]:
        job_uuid = require_uuid(request["uuid"], UUIDType.PIPELINEJOB)
        level = request.get("level", DEFAULT_LEVEL)
        filters = compile_filters(request.get("filters"))
        job = await load(ctx.store, "jobs", job_uuid, message_ids=[ctx.message_id])
        authority = Authority.UPDATE  # a redelivery relinks only what its first delivery did
        if not job.consumed(ctx.message_id):
            authority = authorize(ctx, job_uuid, request.get("token"), noun="job")
        system, archive_path = _archive_of(job, ctx.settings)
        selected = filters.select(await self.storage.list_files(system, archive_path))
        recorded = await record_job_event(
            ctx.store,
            job_uuid,
            JobEvent.INDEX,
            {"level": level, "filters": list(filters.patterns)},
            message_id=ctx.message_id,
            domain=ctx.settings.uuid_domain,
            sender=ctx.sender,
            authorize=lambda _job: authorize(ctx, job_uuid, request.get("token"), noun="job"),
        )
        if not recorded.applied:
            ctx.log.debug("Index request already recorded for job {uuid}", uuid=job_uuid)
        others: list[str] = []
        for path in selected:
            uuid = file_uuid(path, domain=ctx.settings.uuid_domain)
            if authority is not Authority.ADMIN and generated_by_another(
                await ctx.store.get_file(uuid), job_uuid
            ):
                others.append(path)
                continue
            await ctx.store.upsert_file(
                {
                    "uuid": uuid,
                    "name": path,
                    "storage_system": system,
                    "type": infer_filetype(path),
                    "level": level,
                    "generated_by": [job_uuid],
                }
            )
        if others:
            ctx.log.warning(
                "Left {count} files as they are: another job generated them, and only a "
                "request with an admin token relinks them",
                count=len(others),
            )
        left = set(others)
        selected = [path for path in selected if path not in left]
        ctx.send(
            JobsIndexer.alias,
            {"uuid": job_uuid, "name": "indexed", "token": ctx.update_tokens.issue(job_uuid)},
            partition_key=job_uuid,
        )
        ctx.log.info(
            "Indexed {count} files of job {uuid} at level {level}",
            count=len(selected),
            uuid=job_uuid,
            level=level,
        )
        reply: dict[str, Any] = {
            "uuid": job_uuid,
            "indexed": len(selected),
            "level": level,
            "files": selected[:REPLY_FILES_LIMIT],
        }
        if others:
            reply["generated_by_other_jobs"] = others[:REPLY_FILES_LIMIT]
        return reply

    async def _indexed(self, request: Mapping[str, Any], ctx: ActorContext) -> Mapping[str, Any]:
        job_uuid = require_uuid(request["uuid"], UUIDType.PIPELINEJOB)
        recorded = await record_job_event(
            ctx.store,
            job_uuid,
            JobEvent.INDEXED,
            {},
            message_id=ctx.message_id,
            domain=ctx.settings.uuid_domain,
            sender=ctx.sender,
            authorize=lambda _job: authorize(ctx, job_uuid, request.get("token"), noun="job"),
        )
        state = recorded.document.body["state"]
        ctx.log.info("Job {uuid} indexed; state {state}", uuid=job_uuid, state=state)
        return {"uuid": job_uuid, "state": state}


def request_of(message: Message) -> dict[str, Any]:
    """The request: the body document completed by the URL parameters, checked by its schema.

    URL parameters: ``uuid``, ``name`` (or ``event``), ``token``, ``level`` and ``filters`` (a
    JSON array of strings, or a single pattern). A field given in both places must agree.
    """
    from_url: dict[str, Any] = {
        key: value for key in _URL_FIELDS if (value := message.param(key)) is not None
    }
    name = message.param("name") or message.param("event")
    if name is not None:
        from_url["name"] = name
    filters = message.param("filters")
    if filters is not None:
        from_url["filters"] = filters_from_parameter(filters)
    body = message.document
    if not isinstance(body, dict):
        raise InvalidInput(
            f"message body must be a JSON object, got a {type(body).__name__}; "
            'e.g. {"uuid": "107...", "name": "index", "token": "..."}'
        )
    for key in sorted(from_url.keys() & body.keys()):
        if from_url[key] != body[key]:
            raise InvalidInput(
                f"field {key!r} is given as a URL parameter and in the body with different "
                "values; give it in one place"
            )
    request = {**from_url, **body}
    action = request.get("name")
    if action not in _SCHEMAS:
        shown = "missing" if action is None else f"{str(action)[:40]!r}"
        raise InvalidInput(
            f"field 'name' is {shown}; the jobs-indexer accepts 'index' or 'indexed' "
            "(in the body, or as the URL parameter name or event)"
        )
    registry().validate(request, _SCHEMAS[action])
    return request


def generated_by_another(record: Mapping[str, Any] | None, job_uuid: str) -> bool:
    """Whether a stored file record names a job other than ``job_uuid`` as its generator:
    such a record is that job's, and the indexer leaves it as it is (issue 13)."""
    if record is None:
        return False
    generated_by = record.get("generated_by") or []
    return any(other != job_uuid for other in generated_by)


def _archive_of(job: StoredDocument, settings: Settings) -> tuple[str, str]:
    """The job's storage system and archive path."""
    path = job.body.get("archive_path")
    if not isinstance(path, str) or not path:
        raise Conflict(f"job {job.uuid} has no archive path to index")
    system = job.body.get("archive_system") or settings.archive_system
    return str(system), normalize_archive_path(path)
