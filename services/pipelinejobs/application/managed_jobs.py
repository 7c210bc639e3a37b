"""Creating managed jobs: the one place a job document is born.

Shared by the jobs-manager's ``create`` action (agents such as the SDK's ``ManagedPipelineJob``)
and the agave-proxy, each calling it in its own process: there is no single writer actor, but
one shared ledger (this module and ``ledger``), so both create jobs by the same rules, with the
same idempotent insert, and record later events with the same atomic append.

The job UUID is derived from the pipeline, the linked catalog records and the data, so the same
request always names the same job: creating it again returns the stored job (its archive path,
session and history untouched) instead of a second one.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipelinejobs.actors.base import ActorContext, Message
from pipelinejobs.application.filters import compile_filters
from pipelinejobs.application.ledger import history_event
from pipelinejobs.application.linkage import linkage_parameters, resolve_linkage
from pipelinejobs.domain.agave_uri import AGAVE_SCHEME, parse_agave_uri, require_system_name
from pipelinejobs.domain.archive import (
    ARCHIVE_ROOT,
    archive_path_contains,
    archive_paths_overlap,
    instanced_directory,
    normalize_archive_path,
    session_name,
)
from pipelinejobs.domain.archive import (
    archive_path as derived_archive_path,
)
from pipelinejobs.domain.identifiers import UUIDType, job_uuid, require_uuid
from pipelinejobs.domain.states import INITIAL_STATE, JobEvent
from pipelinejobs.errors import Conflict, InvalidInput, NotFound
from pipelinejobs.messages.schemas import registry
from pipelinejobs.storage.port import Storage
from pipelinejobs.store.port import JSON, Store, StoredDocument

PIPELINE_ACTIVE = "ACTIVE"
_CLAIM_PAGE = 1000
CREATE_SCHEMA = "pipelinejob_create"


@dataclass(frozen=True)
class CreatedJob:
    """The job as stored, its update token, and whether this message created it.

    ``created`` is also True when the message that created the job is delivered again, so a
    redelivery replies exactly as the first delivery did.
    """

    document: StoredDocument
    token: str
    created: bool

    @property
    def uuid(self) -> str:
        return self.document.uuid

    @property
    def body(self) -> JSON:
        return self.document.body


async def create_managed_job(
    ctx: ActorContext,
    storage: Storage,
    *,
    pipeline_uuid: str,
    linkage_params: Mapping[str, Any],
    data: Mapping[str, Any],
    archive_path: str | None = None,
    archive_system: str | None = None,
    instanced: bool = False,
    archive_patterns: Sequence[Mapping[str, Any]] | None = None,
    session: str | None = None,
    agent: str | None = None,
    task: str | None = None,
    owner: str | None = None,
    admin_token: str | None = None,
    message_id: str,
) -> CreatedJob:
    """Create the job for this pipeline, linkage and data, or return the one that exists.

    Refused (nothing written): an unknown or retired pipeline (a redelivery of the message that
    created the job is still answered), linkage ids the catalog does not have, archive patterns
    the indexer would refuse, an archive path that is unsafe, escapes its storage system or runs
    through a file, or that overlaps another job's archive path on the same storage system
    (:func:`require_unclaimed_archive`; a current ``admin_token`` lifts that one rule). A given
    archive path is used as it is (never instanced); a derived one gets the instanced directory
    ``<session>-YYYYMMDDTHHmmssZ`` when ``instanced``.

    The archive directory is made (idempotently) *before* the document is stored, so a path
    storage refuses leaves no job behind whose creator never got its token. A store failure
    after it leaves at most an empty directory (reused when the message is retried), as does
    losing a race to create the same job with another instanced directory.
    """
    domain = ctx.settings.uuid_domain
    pipeline = require_uuid(pipeline_uuid, UUIDType.PIPELINE)
    if not isinstance(data, Mapping):
        raise InvalidInput(f"data must be a JSON object, not a {type(data).__name__}")
    patterns = checked_archive_patterns(archive_patterns)
    linkage = await resolve_linkage(ctx.store, linkage_params)
    uuid = job_uuid(pipeline, linkage.derived_from, data, domain=domain)
    existing = await ctx.store.get_document("jobs", uuid, message_ids=[message_id])
    if existing is not None and existing.consumed(message_id):
        return await _prepared(ctx, storage, existing, created=True)
    await require_active_pipeline(ctx, pipeline)
    if existing is not None:
        return await _prepared(ctx, storage, existing, created=False)

    session = session if session is not None else session_name(random.Random())  # noqa: S311
    system, path = archive_location(
        archive_path, archive_system, default_system=ctx.settings.archive_system
    )
    directory = instanced_directory(session, datetime.now(UTC))  # also checks the session
    given = path is not None
    if path is None:
        path = derived_archive_path(
            pipeline,
            linkage.path_uuids,
            data,
            instanced_directory=directory if instanced else None,
            domain=domain,
        )
    if not is_admin(ctx, admin_token):
        await require_unclaimed_archive(ctx.store, system, path, given=given, job_uuid=uuid)
    await storage.make_dirs(system, path)
    create = history_event(JobEvent.CREATE.value, data, domain=domain)
    body: JSON = {
        "uuid": uuid,
        "pipeline_uuid": pipeline,
        "archive_path": path,
        "archive_system": system,
        "archive_patterns": patterns,
        "data": dict(data),
        "derived_from": linkage.derived_from,
        "generated_by": [pipeline],
        "history": [create],
        "last_event": create["name"],
        "session": session,
        "state": INITIAL_STATE.value,
        "agent": agent,
        "task": task,
        "owner": owner,
        "created": create["date"],
        "updated": create["date"],
    }
    document, inserted = await ctx.store.create_document(
        "jobs", body, message_id=message_id, sender=ctx.sender
    )
    return await _prepared(
        ctx, storage, document, created=inserted or document.consumed(message_id)
    )


async def handle_create(message: Message, ctx: ActorContext, storage: Storage) -> dict[str, Any]:
    """The jobs-manager's ``create`` action (schema ``pipelinejob_create``).

    The update token is revealed only to the job's creator: in the reply and this execution's
    log when this message created the job, or when the sender is the job's recorded owner (an
    agent setting up the same job again). Anyone else learns that the job exists, not its token.
    """
    document = message.document
    registry().validate(document, CREATE_SCHEMA)
    job = await create_managed_job(
        ctx,
        storage,
        pipeline_uuid=document["pipeline_uuid"],
        linkage_params=linkage_parameters(document),
        data=document.get("data", {}),
        archive_path=document.get("archive_path"),
        archive_system=document.get("archive_system"),
        instanced=bool(document.get("instanced", False)),
        archive_patterns=document.get("archive_patterns"),
        session=document.get("session"),
        agent=document.get("agent"),
        task=document.get("task"),
        owner=message.sender,
        admin_token=document.get("admin_token"),
        message_id=ctx.message_id,
    )
    token = job.token if may_reveal_token(job, message.sender) else None
    if job.created:
        ctx.log.info("Created job {uuid} with update token {token}", uuid=job.uuid, token=token)
    else:
        ctx.log.info("Job {uuid} already exists", uuid=job.uuid)
    body = job.body
    return {
        "uuid": job.uuid,
        "token": token,
        "archive_path": body["archive_path"],
        "archive_system": body["archive_system"],
        "session": body.get("session"),
        "state": body["state"],
        "created": job.created,
    }


def may_reveal_token(job: CreatedJob, sender: str | None) -> bool:
    """Whether the sender may see the job's update token: its creator or its recorded owner."""
    if job.created:
        return True
    owner = job.body.get("owner")
    return owner is not None and sender is not None and owner == sender


async def require_active_pipeline(ctx: ActorContext, pipeline_uuid: str) -> StoredDocument:
    """The pipeline, if it exists and accepts new jobs."""
    pipeline = await ctx.store.get_document("pipelines", pipeline_uuid)
    if pipeline is None:
        raise NotFound(
            f"no pipeline with uuid {pipeline_uuid}; register it with the pipelines-manager "
            "before creating jobs for it"
        )
    state = pipeline.body.get("state")
    if state != PIPELINE_ACTIVE:
        raise Conflict(
            f"pipeline {pipeline_uuid} is {state} and accepts no new jobs; use an ACTIVE pipeline"
        )
    return pipeline


def is_admin(ctx: ActorContext, token: object) -> bool:
    """Whether ``token`` is a current admin token (compared exactly, in constant time)."""
    return isinstance(token, str) and ctx.admin_tokens.verify(token, time.time())


async def require_unclaimed_archive(
    store: Store, system: str, path: str, *, given: bool, job_uuid: str
) -> None:
    """Refuse an archive path that overlaps another job's on the same storage system.

    A job's archive path belongs to it: a path equal to, inside or containing another job's
    would let the new job's ``index`` relink (level, ``generated_by``) that job's files. A path
    the caller gave may also not contain the root of derived paths (``/products/v2``), which
    would claim every derived job's outputs at once. Every job stored on the system is compared
    (jobs are read in pages); two creates racing for overlapping paths may both pass, which the
    indexer's own rule (never relink another job's files) still contains. The job itself
    (``job_uuid``, stored meanwhile by a concurrent delivery of the same request) is no other.
    """
    admin = "an agent holding a current admin token (field admin_token) may place it there"
    if given and archive_path_contains(path, ARCHIVE_ROOT):
        raise Conflict(
            f"archive path {path!r} contains {ARCHIVE_ROOT}, where every derived job "
            f"archive lives; choose a path of this job's own, or omit it; {admin}"
        )
    offset = 0
    while True:
        page = await store.find_documents(
            "jobs", {"archive_system": system}, limit=_CLAIM_PAGE, offset=offset
        )
        for job in page:
            claimed = job.body.get("archive_path")
            if job.uuid == job_uuid or not isinstance(claimed, str):
                continue
            if archive_paths_overlap(path, claimed):
                raise Conflict(
                    f"archive path {path!r} on storage system {system!r} overlaps the archive "
                    f"path {claimed!r} of job {job.uuid}, which belongs to that job; choose a "
                    f"path outside it, or omit archive_path to have one derived; {admin}"
                )
        if len(page) < _CLAIM_PAGE:
            return
        offset += _CLAIM_PAGE


def archive_location(
    archive_path: str | None, archive_system: str | None, *, default_system: str
) -> tuple[str, str | None]:
    """``(system, path)`` from an optional absolute path or ``agave://system/path`` URI.

    The path is None when the caller gave none (it is then derived). A URI names its own
    system; a different ``archive_system`` beside it is refused rather than guessed between.
    """
    system = require_system_name(archive_system) if archive_system is not None else None
    if archive_path is None:
        return system or default_system, None
    if not isinstance(archive_path, str):
        raise InvalidInput(f"archive_path must be a string, not a {type(archive_path).__name__}")
    if archive_path.startswith(AGAVE_SCHEME):
        uri_system, path = parse_agave_uri(archive_path)
        if system is not None and system != uri_system:
            raise InvalidInput(
                f"archive_path {archive_path!r} names storage system {uri_system!r} but "
                f"archive_system is {system!r}; give one of them, or the same system in both"
            )
        return uri_system, path
    return system or default_system, normalize_archive_path(archive_path)


def checked_archive_patterns(patterns: Sequence[Mapping[str, Any]] | None) -> list[JSON]:
    """Archive patterns as stored: a list of ``{level, patterns}`` (the indexer's input).

    Each pattern list is compiled by the indexer's own rules (``compile_filters``: RE2, the
    same limits) now, so a pattern the indexer would refuse is refused at create, naming it,
    instead of failing the automatic indexing after the job finished. Stored as given (not
    URL-decoded): the indexer decodes what it is sent.
    """
    if patterns is None:
        return []
    if not isinstance(patterns, Sequence) or isinstance(patterns, str):
        raise InvalidInput(
            'archive_patterns must be a list of {"level": "1", "patterns": [...]} objects'
        )
    checked = []
    for index, item in enumerate(patterns):
        if not isinstance(item, Mapping):
            raise InvalidInput(f"archive_patterns[{index}] must be an object, not {item!r}")
        level, regexes = item.get("level"), item.get("patterns")
        if (
            not isinstance(level, str)
            or not isinstance(regexes, list)
            or not all(isinstance(regex, str) for regex in regexes)
        ):
            raise InvalidInput(
                f"archive_patterns[{index}] must have a processing 'level' (string, e.g. \"1\") "
                "and 'patterns' (a list of regular expressions)"
            )
        compile_filters(regexes, field=f"archive_patterns[{index}].patterns")
        checked.append({"level": level, "patterns": list(regexes)})
    return checked


async def _prepared(
    ctx: ActorContext, storage: Storage, document: StoredDocument, *, created: bool
) -> CreatedJob:
    """The stored job with its token, its archive directory made again (idempotent): an
    agent setting up an existing job gets a directory even if it was removed meanwhile."""
    body = document.body
    await storage.make_dirs(body["archive_system"], body["archive_path"])
    return CreatedJob(document, ctx.update_tokens.issue(document.uuid), created)
