"""The jobs-manager actor: applies job events to the job's state and history.

A message is read as the first of these forms it fits (the documentation's "Update Job State"):

1. ``{"action": "create", ...}``: an agent creating a managed job (``managed_jobs``); the sender
   must be authenticated;
2. a compute-service callback: an Agave job record (schema ``agave_job_callback``) posted to the
   callback URL, whose ``uuid``, ``token`` and ``status`` URL parameters name the job and the
   status (the body's status when the URL's is missing or an unsubstituted ``${JOB_STATUS}``);
   the event's data is that record, secrets redacted, whatever the status;
3. a JSON event ``{uuid, name, token?, data?}`` (schema ``pipelinejob_manager_event``), with
   ``uuid`` and ``token`` also accepted as URL parameters;
4. the jobs-indexer's own ``index`` request (schema ``pipelinejob_index``: ``level`` and
   ``filters`` beside ``uuid``, ``name`` and ``token``), as the indexer's documentation shows it;
5. URL parameters ``uuid``, ``event`` (or ``name``, or a compute ``status``), ``token`` and
   ``note``, with the POST body (any JSON object) attached as the event's data.

An event name that is no event of the jobs-manager (``finsh``) is refused in every form by
``check``, so the gateway answers 422 before anything is recorded.

Every event needs the job's update token or an admin token; ``reset`` and ``ready`` need an admin
token, and ``reset`` empties the job's archive path (only below :data:`CLEARABLE_PREFIXES`). The
token is checked for a message about to be applied; a redelivery of a message the job already
recorded is answered as the first delivery was (follow-ups published again) without checking it
again, since its admin token may have expired meanwhile. ``index`` and ``indexed`` are forwarded
to the jobs-indexer, which applies them. After ``finish``, a job with archive patterns is indexed
automatically with its first pattern (when ``settings.auto_index``).

After ``fail`` or ``reset`` (a user's ``cancel`` is a ``fail``) of a job that a launch recorded
a compute job for, the jobs-manager asks the agave-proxy to cancel that compute job, and says so
in its reply (``cancelling``: the compute job id). Not after a ``fail`` that a compute-service
callback reported: the compute job ended by itself then. Cancelling an ended compute job changes
nothing, so a redelivered event asking again is harmless.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pipelinejobs.actors.base import ActorContext, Message
from pipelinejobs.actors.message_forms import completed, url_value
from pipelinejobs.application.authorization import authorize, require_admin
from pipelinejobs.application.filters import compile_filters, filters_from_parameter
from pipelinejobs.application.ledger import load, record_job_event
from pipelinejobs.application.managed_jobs import checked_archive_patterns, handle_create
from pipelinejobs.domain.actors import AGAVE_PROXY, JOBS_INDEXER, JOBS_MANAGER
from pipelinejobs.domain.compute_status import event_for_status
from pipelinejobs.domain.identifiers import UUIDType, require_uuid
from pipelinejobs.domain.launches import CANCELLING_EVENTS, cancel_request, launched_as
from pipelinejobs.domain.states import ADMIN_EVENTS, AGENT_ONLY_EVENTS, JobEvent, JobState
from pipelinejobs.errors import InvalidInput, SchemaViolation, Unauthorized
from pipelinejobs.logs import redact_value
from pipelinejobs.messages.schemas import registry
from pipelinejobs.storage.port import Storage
from pipelinejobs.store.port import JSON, EventLog, StoredDocument

EVENT_SCHEMA = "pipelinejob_manager_event"
CALLBACK_SCHEMA = "agave_job_callback"
INDEX_SCHEMA = "pipelinejob_index"
INDEXER_EVENTS = frozenset({JobEvent.INDEX.value, JobEvent.INDEXED.value})
CALLBACK_PRIVATE_FIELDS = ("_links", "retries", "localId")
"""Fields of a compute job record left out of the event's data: the service's own links and
bookkeeping, which the documentation's job record does not show."""
USER_EVENTS = tuple(event.value for event in JobEvent if event not in AGENT_ONLY_EVENTS)
"""The event names the jobs-manager accepts from users (``create`` is an agent's action)."""
CLEARABLE_PREFIXES = ("/products/v2", "/sample/tacc-cloud")
"""``reset`` empties only archive paths strictly below these, as the original did: that is where
job outputs live. Any other path (an agent may choose any absolute one) may hold data that is
not the job's, or other jobs' outputs; its reset is recorded and the path left as is, with a
warning in the execution log and ``archive_path_emptied: false`` in the reply."""
CALLBACK_FORM = "compute callback"
LAUNCH_SEARCH_PAGE = 100
"""Events read at a time, from the end of a job's history, looking for its latest launch."""
_CLEARABLE_SEGMENTS = tuple(tuple(prefix.strip("/").split("/")) for prefix in CLEARABLE_PREFIXES)
ACCEPTED_FORMS = (
    'a JSON event {"uuid": "107...", "name": "finish", "token": "..."} '
    "(schema pipelinejob_manager_event); URL parameters uuid, event (or name) and token, with "
    "an optional JSON object body attached as the event's data; a compute-service job "
    "record (schema agave_job_callback) with uuid, token and status URL parameters; or "
    '{"action": "create", "pipeline_uuid": ...} from an agent'
)


@dataclass(frozen=True)
class EventRequest:
    """One job event as the sender asked for it, whatever form it came in."""

    uuid: object
    event: str
    token: object
    data: JSON
    form: str


class JobsManager:
    """Applies job events (alias ``jobs-manager``)."""

    alias: ClassVar[str] = JOBS_MANAGER

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def check(self, message: Message) -> None:
        """What the gateway checks before accepting the message (HTTP 422 instead of ERROR)."""
        if message.document.get("action") == "create":
            registry().validate(message.document, "pipelinejob_create")
            checked_archive_patterns(message.document.get("archive_patterns"))
        else:
            event_request(message)

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        if message.document.get("action") == "create":
            ctx.log.debug("Action selected: create")
            return await self._create(message, ctx)
        request = event_request(message)
        ctx.log.debug(
            "Action selected: {event} (from {form})", event=request.event, form=request.form
        )
        return await self._apply(request, message, ctx)

    async def _create(self, message: Message, ctx: ActorContext) -> Mapping[str, Any]:
        if not message.sender:
            raise Unauthorized(
                "creating a job needs an authenticated sender (a Bearer token or a nonce); "
                "the message came without one"
            )
        return await handle_create(message, ctx, self.storage)

    async def _apply(
        self, request: EventRequest, message: Message, ctx: ActorContext
    ) -> Mapping[str, Any]:
        uuid = require_uuid(_text(request.uuid, "uuid"), UUIDType.PIPELINEJOB)
        event = request.event
        if event in AGENT_ONLY_EVENTS:
            raise InvalidInput(
                f"event {event!r} is reserved for agents; send action=create to create a job"
            )

        def check_token(_job: StoredDocument | None = None) -> None:
            if event in ADMIN_EVENTS:
                require_admin(ctx, uuid, request.token, event=event)
            else:
                authorize(ctx, uuid, request.token, noun="job")

        if event in INDEXER_EVENTS:
            # Recorded as consumed although the job does not change here, so a redelivery is
            # recognized (its admin token may have expired) and forwarded again, unchecked.
            forwarded = await load(ctx.store, "jobs", uuid, message_ids=[ctx.message_id])
            if not forwarded.consumed(ctx.message_id):
                check_token()
            forward = await self._forward(uuid, event, request.data, message, ctx)
            await ctx.store.record_consumed("jobs", uuid, ctx.message_id)
            return forward
        recorded = await record_job_event(
            ctx.store,
            uuid,
            event,
            request.data,
            message_id=ctx.message_id,
            domain=ctx.settings.uuid_domain,
            sender=ctx.sender,
            authorize=check_token,
        )
        job = recorded.document.body
        if recorded.applied:
            ctx.log.info(
                "Job {uuid} {event}: {old} -> {new}",
                uuid=uuid,
                event=event,
                old=recorded.before.body["state"],
                new=job["state"],
            )
        else:
            ctx.log.info(
                "Job {uuid} {event} was already recorded for this message; state {state}",
                uuid=uuid,
                event=event,
                state=job["state"],
            )
        reply: dict[str, Any] = {
            "uuid": uuid,
            "event": event,
            "state": job["state"],
            "last_event": job["last_event"],
        }
        if event == JobEvent.RESET:
            reply["archive_path_emptied"] = await self._reset_archive_path(
                uuid, job, applied=recorded.applied, ctx=ctx
            )
        if event == JobEvent.FINISH:
            _index_automatically(uuid, job, ctx)
        if event in CANCELLING_EVENTS and request.form != CALLBACK_FORM:
            cancelling = await _cancel_compute_job(uuid, recorded.document.version, ctx)
            if cancelling is not None:
                reply["cancelling"] = cancelling
        return reply

    async def _forward(
        self, uuid: str, event: str, data: Mapping[str, Any], message: Message, ctx: ActorContext
    ) -> Mapping[str, Any]:
        """Hand ``index``/``indexed`` to the jobs-indexer, which applies them.

        The sender's token was checked here; the indexer gets the job's own update token, which
        (unlike an admin token) does not expire while the request waits in its queue.
        """
        request: JSON = {"uuid": uuid, "name": event, "token": ctx.update_tokens.issue(uuid)}
        if event == JobEvent.INDEX:
            level = data.get("level") or url_value(message, "level")
            if level is not None:
                request["level"] = level
            filters = data.get("filters")
            parameter = url_value(message, "filters")
            if filters is None and parameter is not None:
                filters = filters_from_parameter(parameter)
            if filters is not None:
                compile_filters(filters)
                request["filters"] = filters
            registry().validate(request, INDEX_SCHEMA)
        envelope = ctx.send(JOBS_INDEXER, request, partition_key=uuid)
        ctx.log.info("Job {uuid} {event}: forwarded to the jobs-indexer", uuid=uuid, event=event)
        return {
            "uuid": uuid,
            "event": event,
            "forwarded_to": JOBS_INDEXER,
            "execution": envelope.headers["execution_id"],
        }

    async def _reset_archive_path(
        self, uuid: str, job: Mapping[str, Any], *, applied: bool, ctx: ActorContext
    ) -> bool:
        """Empty the archive path of the job being reset; whether it was emptied.

        A redelivered ``reset`` empties it again only while the job still waits in RESET after
        a reset (the first delivery may have stopped between recording the event and
        emptying the path). Once the job has moved on (``ready``, a new run), the path holds
        the new run's outputs, and a late copy of the old message must not erase them.
        """
        if not applied and (
            job.get("state") != JobState.RESET or job.get("last_event") != JobEvent.RESET
        ):
            ctx.log.info(
                "Archive path of job {uuid} left as is: this reset was applied before and the "
                "job has moved on (state {state})",
                uuid=uuid,
                state=job.get("state"),
            )
            return False
        path = job.get("archive_path")
        if not clearable(path):
            ctx.log.warning(
                "Archive path {path!r} of job {uuid} was left as is (not emptied): reset "
                "empties only paths below {prefixes}",
                path=path,
                uuid=uuid,
                prefixes=" or ".join(CLEARABLE_PREFIXES),
            )
            return False
        system = str(job.get("archive_system") or ctx.settings.archive_system)
        await self.storage.clear(system, str(path))
        ctx.log.info("Emptied archive path {path} of job {uuid}", path=path, uuid=uuid)
        return True


def clearable(path: object) -> bool:
    """Whether ``reset`` may empty ``path``: strictly below one of :data:`CLEARABLE_PREFIXES`,
    segment by segment (``/products/v2x/...`` is not below ``/products/v2``)."""
    if not isinstance(path, str):
        return False
    segments = [segment for segment in path.split("/") if segment]
    return any(
        len(segments) > len(prefix) and segments[: len(prefix)] == list(prefix)
        for prefix in _CLEARABLE_SEGMENTS
    )


def _index_automatically(uuid: str, job: Mapping[str, Any], ctx: ActorContext) -> None:
    """Send the finished job's first archive pattern to the jobs-indexer (the documentation
    allows one automatic indexing configuration per job)."""
    patterns = job.get("archive_patterns") or []
    if not ctx.settings.auto_index or not patterns:
        return
    first = patterns[0]
    ctx.send(
        JOBS_INDEXER,
        {
            "uuid": uuid,
            "name": JobEvent.INDEX.value,
            "token": ctx.update_tokens.issue(uuid),
            "level": first.get("level", "1"),
            "filters": list(first.get("patterns", [])),
        },
        partition_key=uuid,
    )
    ctx.log.info(
        "Job {uuid} sent to the jobs-indexer at level {level}", uuid=uuid, level=first.get("level")
    )


async def _cancel_compute_job(uuid: str, version: int, ctx: ActorContext) -> str | None:
    """Ask the agave-proxy to cancel the compute job the job's latest launch recorded; its id,
    or None when the job was never launched on a compute service."""
    job_id = await _latest_launch(ctx.store, uuid, version)
    if job_id is None:
        return None
    request = cancel_request(uuid, ctx.update_tokens.issue(uuid), job_id)
    ctx.send(AGAVE_PROXY, request, partition_key=uuid)
    ctx.log.info(
        "Job {uuid}: asked the agave-proxy to cancel its compute job {id}", uuid=uuid, id=job_id
    )
    return job_id


async def _latest_launch(store: EventLog, uuid: str, version: int) -> str | None:
    """The compute job id of the job's latest launch, read from the end of its history (events
    ``1..version``) a page at a time: the launch is usually a few events back, and a long
    history is not read whole for it."""
    end = version
    while end > 0:
        after = max(0, end - LAUNCH_SEARCH_PAGE)
        records = await store.read_events("jobs", uuid, after=after, limit=end - after)
        job_id, _ = launched_as(record.event for record in records)
        if job_id is not None:
            return job_id
        end = after
    return None


def event_request(message: Message) -> EventRequest:
    """The event a message asks for: the first form of the module docstring it fits.

    An event name the jobs-manager does not know is refused here, so the gateway answers 422
    naming it before anything is recorded; whether a known event is allowed depends on the
    job's state, which only the actor reads.
    """
    request = _event_request(message)
    require_known_event(request.event)
    return request


def require_known_event(name: str) -> None:
    """Refuse an event name that is no event of the jobs-manager, naming the ones it accepts."""
    if name in USER_EVENTS or name in AGENT_ONLY_EVENTS:
        return  # ``create`` gets its own refusal, which says how to create a job
    close = difflib.get_close_matches(name, USER_EVENTS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise InvalidInput(
        f"event {name!r:.60} is unknown{hint}; the jobs-manager accepts the events "
        f'{", ".join(USER_EVENTS)} (and an agent\'s {{"action": "create"}})'
    )


def _event_request(message: Message) -> EventRequest:
    document = message.document
    if registry().is_valid(document, CALLBACK_SCHEMA):
        return callback_request(message)
    url_event = url_value(message, "event", "name")
    event_document = _event_document(message, strict=url_event is not None)
    if event_document is not None:
        if url_event is not None and url_event.lower() != event_document["name"]:
            raise InvalidInput(
                f"the event is given in the body ({event_document['name']!r}) and as a URL "
                f"parameter ({url_event.lower()!r}); give it in one place"
            )
        return EventRequest(
            event_document["uuid"],
            event_document["name"],
            event_document.get("token"),
            dict(event_document.get("data", {})),
            "event document",
        )
    index_request = _with_url_address(document, message)
    if url_event is None and registry().is_valid(index_request, INDEX_SCHEMA):
        return EventRequest(
            index_request["uuid"],
            JobEvent.INDEX.value,
            index_request.get("token"),
            {key: index_request[key] for key in ("level", "filters") if key in index_request},
            "index request",
        )
    if url_value(message, "uuid") is not None and (
        url_event is not None or url_value(message, "status", "state") is not None
    ):
        return url_request(message)
    if "name" in document or "uuid" in document:
        try:
            registry().validate(_with_url_address(document, message), EVENT_SCHEMA)
        except SchemaViolation as exc:
            raise SchemaViolation(
                exc.schema, [*exc.problems, f"accepted forms: {ACCEPTED_FORMS}"]
            ) from None
    raise InvalidInput(
        f"message is not a job event the jobs-manager accepts; send {ACCEPTED_FORMS}"
    )


def callback_request(message: Message) -> EventRequest:
    """A compute-service callback: the job from the URL, the status from the URL or the body."""
    record = message.document
    uuid = url_value(message, "uuid")
    if uuid is None:
        raise InvalidInput(
            "a compute-service callback needs the job's uuid and token as URL parameters "
            "(?uuid=107...&token=...&status=${JOB_STATUS}); the uuid parameter is missing"
        )
    status = (url_value(message, "status", "state") or str(record["status"])).upper()
    named = url_value(message, "event")
    event = named.lower() if named is not None else event_for_status(status).value
    data = compute_record(record)
    note = url_value(message, "note")
    if note is not None:
        data["note"] = note
    return EventRequest(uuid, event, url_value(message, "token"), data, CALLBACK_FORM)


def compute_record(record: Mapping[str, Any]) -> JSON:
    """What a compute service said, as an event's data: its job record (``id``, ``status``,
    ``archivePath``, ``lastUpdated``...) as the documentation's job life cycle shows it, for
    every status, without :data:`CALLBACK_PRIVATE_FIELDS` and with secrets redacted (values
    under secret names, and tokens and nonces in URLs, e.g. notification URLs with ``token=``
    or ``x-nonce=``): the history is readable by every user, a callback token is not."""
    kept = {key: value for key, value in record.items() if key not in CALLBACK_PRIVATE_FIELDS}
    redacted: JSON = redact_value("", kept)
    return redacted


def url_request(message: Message) -> EventRequest:
    """URL parameters name the event; the body, if any, is its data (plus ``note``)."""
    data = dict(message.document)
    named = url_value(message, "event", "name")
    status = url_value(message, "status", "state")
    if named is not None:
        event = named.lower()
    else:
        event = event_for_status(status or "").value
        data = compute_record(data)
        data.setdefault("status", (status or "").upper())
    note = url_value(message, "note")
    if note is not None:
        data["note"] = note
    return EventRequest(
        url_value(message, "uuid"), event, url_value(message, "token"), data, "URL parameters"
    )


def _event_document(message: Message, *, strict: bool) -> dict[str, Any] | None:
    """The body as a JSON event (uuid and token completed from the URL), or None if it is not.

    Unless ``strict``, any event name passes here, so that the state machine refuses an unknown
    one naming the job's state and the events it allows. ``strict`` applies when the URL also
    names an event: a body that is not exactly an event document is then the event's data.
    """
    name = message.document.get("name")
    if not isinstance(name, str):
        return None
    candidate = {**_with_url_address(message.document, message), "name": name.lower()}
    probe = candidate if strict else {**candidate, "name": JobEvent.UPDATE.value}
    if not registry().is_valid(probe, EVENT_SCHEMA):
        return None
    return completed(candidate, message, {"uuid": ("uuid",), "token": ("token",)})


def _with_url_address(document: Mapping[str, Any], message: Message) -> dict[str, Any]:
    """``document`` with a missing ``uuid`` or ``token`` taken from the URL parameters."""
    addressed = dict(document)
    for field in ("uuid", "token"):
        value = url_value(message, field)
        if field not in addressed and value is not None:
            addressed[field] = value
    return addressed


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string, got {type(value).__name__}")
    return value
