"""``GET /dead-letters``: the messages the actors gave up on, with the reason (admins only).

A message goes to its actor's dead-letter queue when it can never succeed (refused with a
permanent error, or failing past the retry limit); the execution records say the same per
message, but only the dead-letter queue holds the message itself, ready to be looked at and sent
again. Reading does not remove anything. The queue holds every sender's messages (with their
update tokens), so only an admin may list it.
"""

from __future__ import annotations

import base64
import contextlib
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from pipelinejobs.bus.port import JSON_CONTENT_TYPE, DeadLetter
from pipelinejobs.gateway.auth import Principal, bearer_principal
from pipelinejobs.gateway.models import AbacoReply
from pipelinejobs.gateway.problems import Forbidden, documented_problems
from pipelinejobs.gateway.state import gateway_of

router = APIRouter(tags=["dead letters"])

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


class DeadLetterView(BaseModel):
    """One dead-lettered message: the envelope as it travelled, and why it was given up."""

    actor: str
    messageId: str  # noqa: N815
    reason: str = Field(description="why the message was dead-lettered")
    contentType: str  # noqa: N815
    messageType: str | None = None  # noqa: N815
    partitionKey: str | None = None  # noqa: N815
    context: dict[str, str] = Field(description="the URL parameters the message was sent with")
    headers: dict[str, str]
    body: str = Field(description="the body: its text (JSON), or base64 (protobuf)")
    bodyEncoding: Literal["utf-8", "base64"]  # noqa: N815


class DeadLetterListReply(AbacoReply):
    result: list[DeadLetterView]


@router.get(
    "/dead-letters",
    response_model=DeadLetterListReply,
    summary="Dead-lettered messages (admins only)",
    description="The oldest dead letters of one actor (`actor`, an alias or actor id), or of "
    "every actor in turn when it is omitted; at most `limit` in all. Nothing is removed.",
    responses=documented_problems(401, 403, 404, 422, 503),
)
async def list_dead_letters(
    request: Request,
    principal: Annotated[Principal, Depends(bearer_principal)],
    actor: Annotated[
        str | None, Query(max_length=200, description="actor alias or id; all when omitted")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="most letters listed")] = (
        DEFAULT_LIMIT
    ),
) -> DeadLetterListReply:
    if not principal.admin:
        raise Forbidden(
            "dead letters hold every sender's messages; only an admin may list them (an admin "
            "token, or a user named in PIPELINEJOBS_ADMIN_USERS)"
        )
    gateway = gateway_of(request)
    bus = gateway.system.bus
    actors = [gateway.directory.resolve(actor)] if actor is not None else list(bus.actors)
    letters: list[DeadLetter] = []
    for alias in actors:
        if len(letters) >= limit:
            break
        letters.extend(await bus.dead_letters(alias, limit=limit - len(letters)))
    return DeadLetterListReply(
        message="Dead letters retrieved.", result=[_view(letter) for letter in letters]
    )


def _view(letter: DeadLetter) -> DeadLetterView:
    envelope = letter.envelope
    body, encoding = _body_text(envelope.body, envelope.content_type)
    return DeadLetterView(
        actor=envelope.actor,
        messageId=envelope.message_id,
        reason=letter.reason,
        contentType=envelope.content_type,
        messageType=envelope.message_type,
        partitionKey=envelope.partition_key,
        context=dict(envelope.context),
        headers=dict(envelope.headers),
        body=body,
        bodyEncoding=encoding,
    )


def _body_text(body: bytes, content_type: str) -> tuple[str, Literal["utf-8", "base64"]]:
    """JSON as its text; anything else (protobuf, or bytes that are not UTF-8) as base64."""
    if content_type.split(";", 1)[0].strip().lower() == JSON_CONTENT_TYPE:
        with contextlib.suppress(UnicodeDecodeError):  # not UTF-8 after all: base64 below
            return body.decode("utf-8"), "utf-8"
    return base64.b64encode(body).decode("ascii"), "base64"
