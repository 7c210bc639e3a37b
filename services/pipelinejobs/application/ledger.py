"""The one way a job or pipeline changes: load, decide, append one event atomically.

Shared by every actor that writes job history (jobs-manager, jobs-indexer, agave-proxy) so the
state machine, the event shape and exactly-once effect live in one place. A message already
consumed by the document is recognized *before* the state machine is consulted: its event was
applied, the state has since moved on, and the redelivery must succeed as a no-op.

It is recognized before the sender's token is checked, too: a redelivery may arrive after its
admin token expired (they live 30 to 60 seconds), and refusing it would dead-letter a message
that already took effect and drop its follow-ups. So the token is checked only for a message
about to be applied, on the very version of the document the event is appended to.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pipelinejobs.domain.executions import utc_now
from pipelinejobs.domain.identifiers import UUIDType, random_typed_uuid
from pipelinejobs.domain.states import JobEvent, JobState, transition
from pipelinejobs.errors import NotFound
from pipelinejobs.store.port import JSON, AppendOutcome, DocumentKind, EventLog, StoredDocument


@dataclass(frozen=True)
class Recorded:
    """The document after an event, whether this delivery applied it, and the document as this
    delivery found it (the state before the event when applied), so that a caller reporting the
    change does not read the document a second time."""

    document: StoredDocument
    applied: bool
    before: StoredDocument


def history_event(name: str, data: Mapping[str, Any] | None, *, domain: str) -> dict[str, Any]:
    """A history entry shaped as the documentation's job record: ``{uuid, name, date, data}``."""
    return {
        "uuid": random_typed_uuid(UUIDType.PIPELINEJOB_EVENT, secrets.token_hex(32), domain=domain),
        "name": name,
        "date": utc_now(),
        "data": dict(data or {}),
    }


async def load(
    store: EventLog, kind: DocumentKind, uuid: str, *, message_ids: Iterable[str] = ()
) -> StoredDocument:
    """The document, checked for the consumed ``message_ids``; ``NotFound`` when there is none."""
    document = await store.get_document(kind, uuid, message_ids=message_ids)
    if document is None:
        noun = "job" if kind == "jobs" else "pipeline"
        raise NotFound(f"no {noun} with uuid {uuid}")
    return document


async def history(
    store: EventLog, kind: DocumentKind, uuid: str, *, page: int = 1000
) -> list[JSON]:
    """The whole history of a stream in the documented shape, read from the log a page at a
    time (for a long stream prefer paging with ``store.read_events`` yourself)."""
    events: list[JSON] = []
    after = 0
    while True:
        records = await store.read_events(kind, uuid, after=after, limit=page)
        events.extend(record.event for record in records)
        if len(records) < page:
            return events
        after = records[-1].version


async def record_job_event(
    store: EventLog,
    job_uuid: str,
    event: JobEvent | str,
    data: Mapping[str, Any] | None,
    *,
    message_id: str,
    domain: str,
    extra_changes: Mapping[str, Any] | None = None,
    authorize: Callable[[StoredDocument], object] | None = None,
    sender: str | None = None,
) -> Recorded:
    """Apply ``event`` to the job through the state machine and append it to its history.

    ``authorize`` is called with the job only when this message has not changed it yet, before
    the state machine; it raises (e.g. ``Unauthorized``) to refuse, and nothing is written.
    Raises ``TransitionNotAllowed`` (nothing written) when the job's state does not accept the
    event, ``NotFound`` for an unknown job, ``VersionConflict`` when another writer won the race.
    """
    job = await load(store, "jobs", job_uuid, message_ids=[message_id])
    if job.consumed(message_id):
        return Recorded(job, applied=False, before=job)
    if authorize is not None:
        authorize(job)
    state = transition(JobState(job.body["state"]), event)
    name = JobEvent(str(event).lower()).value
    entry = history_event(name, data, domain=domain)
    changes = {"state": state.value, "last_event": name, "updated": entry["date"]}
    changes.update(extra_changes or {})
    result = await store.append_event(
        "jobs",
        job_uuid,
        expected_version=job.version,
        event=entry,
        changes=changes,
        message_id=message_id,
        sender=sender,
    )
    return Recorded(result.document, applied=result.outcome is AppendOutcome.APPLIED, before=job)


async def record_pipeline_event(
    store: EventLog,
    pipeline: StoredDocument,
    name: str,
    data: Mapping[str, Any] | None,
    changes: Mapping[str, Any],
    *,
    message_id: str,
    domain: str,
    sender: str | None = None,
) -> Recorded:
    """Append a pipeline change (``update``, ``retire``) with its field changes; ``pipeline``
    must have been read with ``message_id`` among the ids checked as consumed."""
    if pipeline.consumed(message_id):
        return Recorded(pipeline, applied=False, before=pipeline)
    entry = history_event(name, data, domain=domain)
    result = await store.append_event(
        "pipelines",
        pipeline.uuid,
        expected_version=pipeline.version,
        event=entry,
        changes={**changes, "last_event": name, "updated": entry["date"]},
        message_id=message_id,
        sender=sender,
    )
    return Recorded(
        result.document, applied=result.outcome is AppendOutcome.APPLIED, before=pipeline
    )
