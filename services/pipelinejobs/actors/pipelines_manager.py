"""The pipelines-manager actor: register, update and retire pipelines.

Three messages, chosen in this order (the choice is logged as ``Action selected: <action>``):

- ``{"action": "update", "uuid", "body", "token"}`` (schema ``pipeline_manager_update``): change
  the fields in ``body``;
- ``{"action": "retire", "uuid", "token"}`` (schema ``pipeline_manager_retire``): take the
  pipeline out of service. Retiring a retired pipeline succeeds and changes nothing;
- a pipeline document (schema ``pipeline_manager_create``): with a token (URL parameter
  ``token``, as in ``abaco run -q token=...``, or a ``token`` field) it updates the pipeline named
  by the ``uuid`` URL parameter, or else the one its components name; without one it registers a
  new pipeline.

The pipeline UUID comes from the components alone, so components never change: a pipeline with
other components is another pipeline. Updates merge: fields given replace the stored ones, fields
left out are kept. The token is checked for a change about to be applied; a redelivered update or
retire the pipeline already recorded is answered again without checking it (its admin token may
have expired meanwhile). Retired pipelines stay readable and may still be updated (e.g. to say what
replaces them); they accept no new jobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pipelinejobs.actors.base import ActorContext, Message
from pipelinejobs.actors.message_forms import completed
from pipelinejobs.application.authorization import Authority, authorize
from pipelinejobs.application.ledger import history_event, load, record_pipeline_event
from pipelinejobs.domain.actors import PIPELINES_MANAGER
from pipelinejobs.domain.canonical import canonical_json
from pipelinejobs.domain.identifiers import UUIDType, pipeline_uuid, require_uuid
from pipelinejobs.errors import Conflict, InvalidInput, Unauthorized
from pipelinejobs.messages.schemas import registry
from pipelinejobs.store.port import JSON, StoredDocument

CREATE_SCHEMA = "pipeline_manager_create"
UPDATE_SCHEMA = "pipeline_manager_update"
RETIRE_SCHEMA = "pipeline_manager_retire"

ACTIVE = "ACTIVE"
RETIRED = "RETIRED"
PIPELINE_FIELDS = (
    "name",
    "description",
    "components",
    "processing_levels",
    "collections_levels",
    "pipeline_type",
    "accepts",
    "produces",
)
"""The fields of a pipeline document that are stored (``__options`` is for the run only)."""
DEFAULTS: Mapping[str, list[str]] = {
    "accepts": ["*"],
    "produces": ["*"],
    "processing_levels": [],
    "collections_levels": [],
}
"""Schema defaults filled in at registration."""
RUNTIME_OPTIONS = "__options"


@dataclass(frozen=True)
class Create:
    document: JSON


@dataclass(frozen=True)
class Update:
    uuid: str | None
    """None for an update by document without a ``uuid``: the components name the pipeline."""
    token: object
    changes: JSON


@dataclass(frozen=True)
class Retire:
    uuid: str
    token: object


Request = Create | Update | Retire


class PipelinesManager:
    """Registers pipelines and manages their life (alias ``pipelines-manager``)."""

    alias: ClassVar[str] = PIPELINES_MANAGER

    def check(self, message: Message) -> None:
        """What the gateway checks before accepting the message (HTTP 422 instead of ERROR)."""
        request_of(message)

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        request = request_of(message)
        action = type(request).__name__.lower()
        ctx.log.debug("Action selected: {action}", action=action)
        if isinstance(request, Create):
            return await create(request, ctx, owner=message.sender)
        if isinstance(request, Update):
            return await update(request, ctx)
        return await retire(request, ctx)


def request_of(message: Message) -> Request:
    """Which of the three messages this is, its schema checked."""
    document = message.document
    action = document.get("action")
    if action == "update":
        request = completed(document, message, {"uuid": ("uuid",), "token": ("token",)})
        registry().validate(request, UPDATE_SCHEMA)
        return Update(request["uuid"], request["token"], dict(request["body"]))
    if action == "retire":
        request = completed(document, message, {"uuid": ("uuid",), "token": ("token",)})
        registry().validate(request, RETIRE_SCHEMA)
        return Retire(request["uuid"], request["token"])
    if action is not None:
        raise InvalidInput(
            f"action {str(action)[:40]!r} is not accepted by the pipelines-manager; send "
            "action 'update' or 'retire', or a pipeline document (no action) to register or "
            "update a pipeline"
        )
    addressed = completed(
        {key: document[key] for key in ("uuid", "token") if key in document},
        message,
        {"uuid": ("uuid",), "token": ("token",)},
    )
    pipeline = {key: value for key, value in document.items() if key not in ("uuid", "token")}
    registry().validate(pipeline, CREATE_SCHEMA)
    if addressed.get("token") is not None:
        return Update(addressed.get("uuid"), addressed["token"], pipeline)
    if addressed.get("uuid") is not None:
        raise InvalidInput(
            "uuid names a pipeline to update, which needs its token (URL parameter or field "
            "'token'); to register a new pipeline leave uuid out: it is derived from the "
            "components"
        )
    return Create(pipeline)


async def create(request: Create, ctx: ActorContext, *, owner: str | None) -> Mapping[str, Any]:
    """Register the pipeline; the same message delivered again replies the same."""
    domain = ctx.settings.uuid_domain
    fields = stored_fields(request.document)
    uuid = pipeline_uuid(fields["components"], domain=domain)
    event = history_event("create", fields, domain=domain)
    body: JSON = {
        "uuid": uuid,
        **fields,
        "state": ACTIVE,
        "history": [event],
        "last_event": "create",
        "owner": owner,
        "created": event["date"],
        "updated": event["date"],
    }
    document, inserted = await ctx.store.create_document(
        "pipelines", body, message_id=ctx.message_id, sender=ctx.sender
    )
    if not inserted and not document.consumed(ctx.message_id):
        retired = " (retired)" if document.body.get("state") == RETIRED else ""
        raise Conflict(
            f"a pipeline with these components already exists{retired}: {uuid}; send an update "
            "with its token, or change the components to register a new pipeline"
        )
    token = ctx.update_tokens.issue(uuid)
    ctx.log.info("Created pipeline {uuid} with update token {token}", uuid=uuid, token=token)
    return {"uuid": uuid, "token": token}


async def update(request: Update, ctx: ActorContext) -> Mapping[str, Any]:
    """Apply the changed fields; components may not change. Nothing is written when a check
    fails or no field differs."""
    changes = {key: value for key, value in request.changes.items() if key != RUNTIME_OPTIONS}
    unknown = sorted(changes.keys() - set(PIPELINE_FIELDS))
    if unknown:
        raise InvalidInput(
            f"field(s) {', '.join(unknown)} of the update body are not pipeline fields; "
            f"accepted: {', '.join(PIPELINE_FIELDS)}"
        )
    uuid = _target_uuid(request, changes, ctx)
    pipeline = await ctx.store.get_document("pipelines", uuid, message_ids=[ctx.message_id])
    if pipeline is not None and pipeline.consumed(ctx.message_id):
        authority = _presented_authority(ctx, uuid, request.token)
        changed = {key: value for key, value in changes.items() if key != "components"}
    else:
        authority = _authorized(request, uuid, ctx)
        if pipeline is None:
            pipeline = await load(ctx.store, "pipelines", uuid, message_ids=[ctx.message_id])
        _refuse_new_components(pipeline, changes)
        changed = {
            key: value
            for key, value in changes.items()
            if key != "components" and pipeline.body.get(key) != value
        }
        merged = {key: pipeline.body[key] for key in PIPELINE_FIELDS if key in pipeline.body}
        registry().validate({**merged, **changed}, CREATE_SCHEMA)
        if changed:
            await record_pipeline_event(
                ctx.store,
                pipeline,
                "update",
                changed,
                changed,
                message_id=ctx.message_id,
                domain=ctx.settings.uuid_domain,
                sender=ctx.sender,
            )
        else:
            # Recorded all the same, so a redelivery is recognized (and authorized) as this one.
            await ctx.store.record_consumed("pipelines", uuid, ctx.message_id)
            ctx.log.debug("Pipeline {uuid} already has these values", uuid=uuid)
    reply: dict[str, Any] = {"uuid": uuid, "updated": sorted(changed)}
    if authority is Authority.UPDATE:
        token = ctx.update_tokens.issue(uuid)
        reply["token"] = token
        ctx.log.info("Updated pipeline {uuid} with update token {token}", uuid=uuid, token=token)
    else:
        ctx.log.info("Updated pipeline {uuid} with an admin token", uuid=uuid)
    return reply


async def retire(request: Retire, ctx: ActorContext) -> Mapping[str, Any]:
    """Take the pipeline out of service; retiring it again is a successful no-op."""
    uuid = require_uuid(request.uuid, UUIDType.PIPELINE)
    pipeline = await ctx.store.get_document("pipelines", uuid, message_ids=[ctx.message_id])
    if pipeline is None or not pipeline.consumed(ctx.message_id):
        authorize(ctx, uuid, request.token, noun="pipeline")
    pipeline = pipeline or await load(ctx.store, "pipelines", uuid, message_ids=[ctx.message_id])
    if pipeline.consumed(ctx.message_id) or pipeline.body.get("state") != RETIRED:
        await record_pipeline_event(
            ctx.store,
            pipeline,
            "retire",
            {},
            {"state": RETIRED},
            message_id=ctx.message_id,
            domain=ctx.settings.uuid_domain,
            sender=ctx.sender,
        )
        ctx.log.info("Retired pipeline {uuid}", uuid=uuid)
    else:
        await ctx.store.record_consumed("pipelines", uuid, ctx.message_id)
        ctx.log.info("Pipeline {uuid} was already retired; nothing changed", uuid=uuid)
    return {"uuid": uuid, "state": RETIRED}


def stored_fields(document: Mapping[str, Any]) -> JSON:
    """The pipeline fields to store: schema defaults filled in, ``__options`` dropped."""
    fields: JSON = {key: document[key] for key in PIPELINE_FIELDS if key in document}
    for key, default in DEFAULTS.items():
        fields.setdefault(key, list(default))
    return fields


def _target_uuid(request: Update, changes: Mapping[str, Any], ctx: ActorContext) -> str:
    """The pipeline to update: the one named, or else the one its components name."""
    if request.uuid is not None:
        return require_uuid(request.uuid, UUIDType.PIPELINE)
    return pipeline_uuid(changes["components"], domain=ctx.settings.uuid_domain)


def _authorized(request: Update, uuid: str, ctx: ActorContext) -> Authority:
    """The authority of the token sent for the pipeline, else ``Unauthorized``."""
    if request.uuid is not None:
        return authorize(ctx, uuid, request.token, noun="pipeline")
    try:
        return authorize(ctx, uuid, request.token, noun="pipeline")
    except Unauthorized as exc:
        raise Unauthorized(
            f"{exc} (pipeline {uuid} is the one these components name; if you changed the "
            "components, that is a new pipeline: send the document without a token to register "
            "it, or send the uuid URL parameter of the pipeline you mean to update)"
        ) from None


def _presented_authority(ctx: ActorContext, uuid: str, token: object) -> Authority:
    """Which token an already applied update was authorized with, without the clock: a token
    that is not the pipeline's update token was a then-current admin token (an expired one now,
    perhaps). Decides only what the reply reveals, never whether to write."""
    presented = token if isinstance(token, str) else None
    return Authority.UPDATE if ctx.update_tokens.verify(uuid, presented) else Authority.ADMIN


def _refuse_new_components(pipeline: StoredDocument, changes: Mapping[str, Any]) -> None:
    if "components" not in changes:
        return
    if canonical_json(changes["components"]) != canonical_json(pipeline.body.get("components")):
        raise Conflict(
            f"components of pipeline {pipeline.uuid} cannot change (they define its uuid); "
            "register a new pipeline with the new components instead (send its document "
            "without a token)"
        )
