"""The agave-proxy actor: launch a compute job as a managed PipelineJob.

For a launch request (schema ``agave_pipelinejob``) it finds the pipeline that has the app as a
component, creates the managed job (linked to the catalog, with its archive path), gives the
compute job that archive path and a callback URL to the jobs-manager (update token plus a nonce
scoped to the jobs-manager), submits it, and records ``run`` (or ``fail`` with the reason).
Progress then arrives as compute-service callbacks; no delivery waits for the compute job.

The proxy writes the job itself, in its own process, through the same shared functions the
jobs-manager uses (``managed_jobs.create_managed_job``, ``ledger.record_job_event``): one ledger,
the same rules (state machine, event shape, consumed message ids) and the same atomic append.
So the job, its archive path and token exist before the compute service is asked to run it,
with no round trip through the jobs-manager's queue; a callback that is applied before ``run``
is recorded wins (see ``_record``).

A cancel request (``{"action": "cancel", "uuid", "token", "job_id"}``, which the jobs-manager
sends when a launched job fails or is reset) stops that compute job through the compute port.
It needs the job's update token (or an admin token) and names a compute job the job's own
``run`` events recorded; cancelling a compute job that has already ended changes nothing, so a
redelivered request is harmless. A compute service that refuses (it does not know the job, say)
makes the execution ERROR with its reason, and the request is dead-lettered.

Exactly-once effect under redelivery: the job is created with message id ``<mid>:create`` and
``run``/``fail`` are recorded with ``<mid>:run``/``<mid>:fail``, so a redelivered launch whose
outcome is recorded answers from the stored job and never submits again. The one window left is
a crash between the service accepting the submission and ``run`` being recorded: the compute
port has no idempotent submit, so a redelivery then submits a second compute job.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from pipelinejobs.actors.base import ActorContext, Message
from pipelinejobs.application.authorization import authorize
from pipelinejobs.application.filters import compile_filters
from pipelinejobs.application.ledger import Recorded, history, load, record_job_event
from pipelinejobs.application.linkage import linkage_parameters
from pipelinejobs.application.managed_jobs import (
    PIPELINE_ACTIVE,
    CreatedJob,
    create_managed_job,
    may_reveal_token,
)
from pipelinejobs.compute.port import ComputeRejected, ComputeService
from pipelinejobs.domain.actors import AGAVE_PROXY, JOBS_MANAGER
from pipelinejobs.domain.archive import session_name
from pipelinejobs.domain.derived_ids import step_message_id
from pipelinejobs.domain.executions import utc_now
from pipelinejobs.domain.identifiers import UUIDType, typed_uuid
from pipelinejobs.domain.launches import (
    CANCEL_ACTION,
    checked_cancel_request,
    launched_as,
    launched_ids,
    run_data,
)
from pipelinejobs.domain.nonces import NONCE_PREFIX, UNLIMITED, Level, nonce_record
from pipelinejobs.domain.senders import sender_user
from pipelinejobs.domain.states import JobEvent, JobState
from pipelinejobs.domain.tokens import UpdateTokens
from pipelinejobs.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermanentError,
    TransientError,
    TransitionNotAllowed,
    VersionConflict,
)
from pipelinejobs.messages.schemas import registry
from pipelinejobs.storage.port import Storage
from pipelinejobs.store.port import JSON, EventRecord, Store, StoredDocument

LAUNCH_SCHEMA = "agave_pipelinejob"
DEFAULT_PROCESSING_LEVEL = "1"
PIPELINE_PAGE = 100


class AgaveProxy:
    """Launches compute jobs as managed PipelineJobs (alias ``agave-proxy``)."""

    alias: ClassVar[str] = AGAVE_PROXY
    group_commit: ClassVar[bool] = False
    """Launches and cancels compute jobs: a batch committed after the compute service was
    called, or applied again after a failed commit, would call it again (see ``Actor``)."""

    def __init__(
        self,
        storage: Storage,
        compute: ComputeService | None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.storage = storage
        self.compute = compute
        self._rng = rng or random.Random()  # noqa: S311 (session names are not secrets)

    def check(self, message: Message) -> None:
        """What the gateway checks before accepting the message (HTTP 422 instead of ERROR)."""
        if message.document.get("action") == CANCEL_ACTION:
            checked_cancel_request(message.document)
            return
        registry().validate(message.document, LAUNCH_SCHEMA)
        _checked_job_definition(message.document["job_definition"])
        compile_filters(message.document.get("index_patterns"), field="index_patterns")

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        document = message.document
        if document.get("action") == CANCEL_ACTION:
            return await self._cancel(message, ctx)
        registry().validate(document, LAUNCH_SCHEMA)
        compute = self._compute("launch")
        job_definition = _checked_job_definition(document["job_definition"])
        compile_filters(document.get("index_patterns"), field="index_patterns")
        app_id = job_definition["appId"]
        if not await compute.app_exists(app_id):
            raise ComputeRejected(
                f"job_definition.appId {app_id!r} is not an app of the compute service; "
                "check the app id (and that the app is shared with this system)"
            )
        pipeline = await pipeline_for_app(ctx.store, app_id)
        job = await self._create_job(message, ctx, pipeline.uuid, job_definition)
        if job.created:
            ctx.log.info(
                "Created job {uuid} with update token {token}", uuid=job.uuid, token=job.token
            )
        return await self._launch(message, ctx, compute, job, job_definition)

    def _compute(self, what: str) -> ComputeService:
        if self.compute is None:
            raise PermanentError(
                f"no compute service configured; this agave-proxy cannot {what} jobs "
                "(configure a compute service, e.g. the local execution system)"
            )
        return self.compute

    async def _cancel(self, message: Message, ctx: ActorContext) -> dict[str, Any]:
        """Stop the compute job of a managed job (see the module docstring)."""
        uuid, token, job_id = checked_cancel_request(message.document)
        compute = self._compute("cancel")
        authorize(ctx, uuid, token, noun="job")
        await load(ctx.store, "jobs", uuid)
        launched = launched_ids(await history(ctx.store, "jobs", uuid))
        if job_id not in launched:
            raise InvalidInput(
                f"compute job {job_id!r} was not launched for job {uuid}; its run events name "
                f"{', '.join(launched) or 'no compute job'}"
            )
        await compute.cancel(job_id)
        status = (await compute.status(job_id)).status
        ctx.log.info(
            "Cancelled compute job {id} of job {uuid}; it is {status}",
            id=job_id,
            uuid=uuid,
            status=status,
        )
        return {"uuid": uuid, "job_id": job_id, "compute_status": status}

    async def _create_job(
        self, message: Message, ctx: ActorContext, pipeline_uuid: str, job_definition: JSON
    ) -> CreatedJob:
        document = message.document
        agent = f"{ctx.settings.public_url.rstrip('/')}/actors/v2/{self.alias}"
        return await create_managed_job(
            ctx,
            self.storage,
            pipeline_uuid=pipeline_uuid,
            linkage_params=linkage_parameters(document["parameters"]),
            data=launch_data(job_definition, document.get("data")),
            archive_path=document.get("archive_path"),
            instanced=document.get("instanced", True),
            archive_patterns=[
                {
                    "level": document.get("processing_level", DEFAULT_PROCESSING_LEVEL),
                    "patterns": list(document.get("index_patterns", [])),
                }
            ],
            session=session_name(self._rng),
            agent=agent,
            task=f"{agent}/executions/{ctx.execution_id}",
            owner=message.sender,
            admin_token=document.get("admin_token"),
            message_id=step_message_id(ctx.message_id, "create"),
        )

    async def _launch(
        self,
        message: Message,
        ctx: ActorContext,
        compute: ComputeService,
        job: CreatedJob,
        job_definition: JSON,
    ) -> dict[str, Any]:
        run_id = step_message_id(ctx.message_id, "run")
        fail_id = step_message_id(ctx.message_id, "fail")
        launched = await self._earlier_launch(message, ctx, job, run_id, fail_id)
        if launched is not None:
            return launched
        nonce = await ensure_callback_nonce(ctx, job, sender_user(message.sender))
        callback = callback_url(ctx, job, nonce)
        definition = submitted_definition(job_definition, job.body, callback)
        try:
            compute_job = await compute.submit(definition)
        except TransientError:
            raise  # e.g. ComputeUnavailable: retried later; the job stays CREATED meanwhile
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            await _record(ctx, job.uuid, JobEvent.FAIL, {"error": reason}, fail_id)
            raise PermanentError(f"job {job.uuid} failed to launch: {reason}") from exc
        await _record(
            ctx, job.uuid, JobEvent.RUN, run_data(compute_job.id, compute_job.link), run_id
        )
        ctx.log.info("Launched job {uuid} as compute job {id}", uuid=job.uuid, id=compute_job.id)
        return self._reply(ctx, job, nonce, compute_job.id, compute_job.link)

    async def _earlier_launch(
        self, message: Message, ctx: ActorContext, job: CreatedJob, run_id: str, fail_id: str
    ) -> dict[str, Any] | None:
        """The reply when the job must not be submitted now (None: submit it).

        A redelivered launch answers from what the first delivery recorded; launching an
        existing job again is for its owner and only while it has not run.
        """
        stored = job.document
        failed = await ctx.store.find_event("jobs", job.uuid, message_id=fail_id)
        if failed is not None:
            raise PermanentError(f"job {job.uuid} failed to launch: {_failure_reason(failed)}")
        launched = await ctx.store.find_event("jobs", job.uuid, message_id=run_id)
        if launched is not None:
            nonce = await ensure_callback_nonce(ctx, job, sender_user(message.sender))
            return self._reply(ctx, job, nonce, *launched_as([launched.event]))
        if not job.created:
            _require_relaunchable(job, message.sender)
            return None
        state = stored.body["state"]
        if state == JobState.CREATED:
            return None
        ctx.log.warning(
            "Job {uuid} is already {state} although its launch was not recorded; an earlier "
            "attempt submitted it, so it is not submitted again",
            uuid=job.uuid,
            state=state,
        )
        nonce = await ensure_callback_nonce(ctx, job, sender_user(message.sender))
        return self._reply(ctx, job, nonce, None, None)

    def _reply(
        self,
        ctx: ActorContext,
        job: CreatedJob,
        nonce: str,
        job_id: str | None,
        job_link: str | None,
    ) -> dict[str, Any]:
        body = job.body
        return {
            "uuid": job.uuid,
            "token": job.token,
            "archive_path": body["archive_path"],
            "archive_system": body["archive_system"],
            "session": body.get("session"),
            "job_id": job_id,
            "job_link": job_link,
            "callback": callback_url(ctx, job, nonce),
        }


def launch_data(job_definition: JSON, data: Mapping[str, Any] | None) -> JSON:
    """The job's ``data``: the job definition as sent, then the message's ``data`` on top.

    A shallow merge in which the message's keys win: ``data`` is the job's parameterization
    (part of its identity), and the definition is what the compute service runs. Fields this
    proxy adds to the submitted definition (archive path, callback) are not part of it: they
    derive from the job's identity.
    """
    return {**job_definition, **dict(data or {})}


def submitted_definition(job_definition: JSON, job: JSON, callback: str) -> JSON:
    """The definition the compute service gets: archived to the job's path, calling back.

    Notifications the user gave are kept and ours is appended (the original dropped its own
    when the user had some, through an indentation slip).
    """
    definition = dict(job_definition)
    definition.update(
        archive=True, archiveSystem=job["archive_system"], archivePath=job["archive_path"]
    )
    notifications = list(definition.get("notifications") or [])
    notifications.append({"event": "*", "persistent": True, "url": callback})
    definition["notifications"] = notifications
    return definition


def callback_url(ctx: ActorContext, job: CreatedJob, nonce: str) -> str:
    """The jobs-manager URL the compute service calls on every status change.

    ``${JOB_STATUS}`` is the compute service's macro, left for it to fill in.
    """
    base = ctx.settings.public_url.rstrip("/")
    session = quote(str(job.body.get("session") or ""), safe="")
    return (
        f"{base}/actors/v2/{JOBS_MANAGER}/messages?uuid={job.uuid}&token={job.token}"
        f"&x-nonce={quote(nonce, safe='')}&session={session}&status=${{JOB_STATUS}}"
    )


def callback_nonce_id(update_tokens: UpdateTokens, job_uuid: str, *, domain: str) -> str:
    """The id of the nonce that authorizes one job's callbacks: ``PJ_`` and 32 hex digits.

    Deterministic, so a redelivered launch reuses the nonce instead of minting another, yet not
    guessable: each half is an HMAC under the server's update-token key of a generic (type 100)
    UUID derived from the job UUID. No document has a generic UUID, so no update token issued
    for a document ever equals a half.
    """
    halves = (
        update_tokens.issue(
            typed_uuid(
                f"agave-proxy callback nonce {half} {job_uuid}", UUIDType.GENERIC, domain=domain
            )
        )
        for half in (1, 2)
    )
    return NONCE_PREFIX + "".join(halves)


async def ensure_callback_nonce(ctx: ActorContext, job: CreatedJob, owner: str | None) -> str:
    """The nonce for the job's callbacks, created on first use.

    Scoped to the jobs-manager at EXECUTE (post messages, nothing else), unlimited uses and no
    expiry: a compute job may run for days and report many statuses. Deleting the nonce
    revokes the callbacks. ``owner`` is the launching user's name (``sender_user``), as the
    gateway's nonce routes compare it, so that user can list and delete the nonce.
    """
    nonce_id = callback_nonce_id(ctx.update_tokens, job.uuid, domain=ctx.settings.uuid_domain)
    if await ctx.store.get_nonce(nonce_id) is None:
        # Conflict: a concurrent delivery of the same launch saved it first.
        with contextlib.suppress(Conflict):
            await ctx.store.save_nonce(
                nonce_record(
                    nonce_id=nonce_id,
                    actor=JOBS_MANAGER,
                    level=Level.EXECUTE,
                    max_uses=UNLIMITED,
                    owner=owner,
                    description=f"compute-service callbacks of job {job.uuid} "
                    f"(created by {AGAVE_PROXY})",
                    create_time=utc_now(),
                )
            )
    return nonce_id


async def pipeline_for_app(store: Store, app_id: str) -> StoredDocument:
    """The one ACTIVE pipeline with a component whose ``id`` is the app id."""
    matches: dict[str, StoredDocument] = {}
    offset = 0
    while True:
        page = await store.find_documents(
            "pipelines", {"state": PIPELINE_ACTIVE}, limit=PIPELINE_PAGE, offset=offset
        )
        for pipeline in page:
            if _has_component(pipeline.body, app_id):
                matches[pipeline.uuid] = pipeline
        if len(page) < PIPELINE_PAGE:
            break
        offset += PIPELINE_PAGE
    if not matches:
        raise NotFound(
            f"no ACTIVE pipeline has a component with id {app_id!r}; register the app as a "
            "pipeline component (pipelines-manager create) before launching it"
        )
    if len(matches) > 1:
        raise Conflict(
            f"app {app_id!r} is a component of {len(matches)} ACTIVE pipelines "
            f"({', '.join(sorted(matches))}); an app must belong to one ACTIVE pipeline, "
            "so retire the others"
        )
    return next(iter(matches.values()))


def _has_component(pipeline: JSON, app_id: str) -> bool:
    components = pipeline.get("components")
    if not isinstance(components, list):
        return False
    return any(isinstance(c, Mapping) and c.get("id") == app_id for c in components)


def _checked_job_definition(value: Any) -> JSON:
    if not isinstance(value, Mapping):
        raise InvalidInput("job_definition must be an Agave job definition object")
    app_id = value.get("appId")
    if not isinstance(app_id, str) or not app_id:
        raise InvalidInput(
            "job_definition.appId is required: the id of the app to run, e.g. tacobot9000-0.1.0u1"
        )
    notifications = value.get("notifications")
    if notifications is not None and (
        not isinstance(notifications, list)
        or not all(isinstance(item, Mapping) for item in notifications)
    ):
        raise InvalidInput(
            "job_definition.notifications must be a list of {event, url, persistent} objects"
        )
    return dict(value)


def _require_relaunchable(job: CreatedJob, sender: str | None) -> None:
    """Launching an existing job (same pipeline, linkage and data) again: only its owner may,
    and only while it has not run (e.g. an earlier launch found the compute service down)."""
    if not may_reveal_token(job, sender):
        raise Conflict(
            f"job {job.uuid} already exists for this pipeline, linkage and data and belongs "
            "to another sender; change the job's data to launch a new one"
        )
    state = job.body["state"]
    if state != JobState.CREATED:
        raise Conflict(
            f"job {job.uuid} already exists for this pipeline, linkage and data and is "
            f"{state}; to run it again an administrator resets it (events reset, ready), "
            "or change the job's data to launch a new one"
        )


async def _record(
    ctx: ActorContext, job_uuid: str, event: JobEvent, data: JSON, message_id: str
) -> Recorded | None:
    """Record the launch outcome, retrying lost races here: the compute job was already
    submitted, so the handler must not run again from the start."""
    for _ in range(ctx.settings.conflict_retries):
        try:
            return await record_job_event(
                ctx.store,
                job_uuid,
                event,
                data,
                message_id=message_id,
                domain=ctx.settings.uuid_domain,
                sender=ctx.sender,
            )
        except VersionConflict:
            continue
        except TransitionNotAllowed as exc:
            ctx.log.warning(
                "Job {uuid} is already {state} (compute callbacks arrived first); "
                "event {event} not recorded",
                uuid=job_uuid,
                state=exc.state,
                event=event.value,
            )
            return None
    raise VersionConflict(f"job {job_uuid}: gave up recording {event.value} after lost races")


def _failure_reason(fail: EventRecord) -> str:
    data = fail.event.get("data") or {}
    if fail.event.get("name") == JobEvent.FAIL and "error" in data:
        return str(data["error"])
    return "the compute service refused it"
