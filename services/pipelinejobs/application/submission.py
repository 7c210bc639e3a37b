"""Submitting a message to an actor: one code path for the gateway, the CLI and the tests.

The sender's message gets a ``message_id`` (kept when the caller gave one, so a retried HTTP
request is one message), a SUBMITTED execution record the caller can poll at once, and is
published to the actor's queue, partitioned by the job or pipeline uuid it names so events for
one document are applied in the order they were sent.

Nothing is half-accepted: a message to an actor the bus has no queue for is refused before
anything is recorded; a message the bus refuses leaves an ERROR execution marked as never
accepted, which the same message sent again replaces with a clean SUBMITTED one.
"""

from __future__ import annotations

import json
import uuid as uuidlib
from collections.abc import Mapping
from typing import Any

from pipelinejobs.bus.port import JSON_CONTENT_TYPE, Bus, Envelope, UnknownActor
from pipelinejobs.domain.executions import (
    ExecutionStatus,
    execution_id_for,
    new_execution,
    not_accepted,
)
from pipelinejobs.errors import BusUnavailable, PermanentError
from pipelinejobs.store.port import Executions


def partition_key_for(document: Any, context: Mapping[str, str]) -> str | None:
    """The uuid a message is about (body first, then URL parameters), for per-document order."""
    if isinstance(document, Mapping):
        for key in ("uuid", "pipeline_uuid"):
            value = document.get(key)
            if isinstance(value, str) and value:
                return value
    return context.get("uuid") or None


def check_actor(bus: Bus, actor: str) -> None:
    """The bus's own refusal (``UnknownActor``, a ``NotFound`` naming the known actors) when it
    has no queue for ``actor``, before anything is recorded."""
    if actor not in bus.actors:
        raise UnknownActor(actor, bus.actors)


async def submit(
    store: Executions,
    bus: Bus,
    actor: str,
    *,
    body: bytes,
    content_type: str = JSON_CONTENT_TYPE,
    message_type: str | None = None,
    context: Mapping[str, str] | None = None,
    sender: str | None = None,
    message_id: str | None = None,
    document: Any = None,
) -> str:
    """Record a SUBMITTED execution and publish; returns the execution id.

    ``document`` is the already-parsed body when the caller has it (used for the partition key).
    Raises ``NotFound`` (nothing recorded) for an unknown actor, and ``BusUnavailable`` (the
    execution ends ERROR, never accepted) when the bus cannot take the message now.
    """
    check_actor(bus, actor)
    message_id = message_id or str(uuidlib.uuid4())
    execution_id = execution_id_for(message_id)
    context = dict(context or {})
    if document is None and content_type == JSON_CONTENT_TYPE and body:
        try:
            document = json.loads(body)
        except ValueError:
            document = None  # the actor's runtime reports the malformed body on the execution
    await store.submit_execution(
        new_execution(message_id=message_id, actor=actor, sender=sender, message_type=message_type)
    )
    headers = {"execution_id": execution_id}
    if sender:
        headers["sender"] = sender
    envelope = Envelope(
        actor=actor,
        body=body,
        message_id=message_id,
        content_type=content_type,
        message_type=message_type,
        partition_key=partition_key_for(document, context),
        context=context,
        headers=headers,
    )
    try:
        await bus.publish([envelope])
    except BusUnavailable as exc:
        # The caller is told to retry; the execution says why, and the retry starts it afresh.
        reason = f"not accepted: message bus unavailable ({exc}); send it again"
        await store.update_execution(
            execution_id, fields=not_accepted(reason), if_status=ExecutionStatus.SUBMITTED.value
        )
        raise
    except PermanentError as exc:
        # The bus refused the envelope for good (checked before anything was queued).
        await store.update_execution(
            execution_id,
            fields=not_accepted(f"not accepted: {exc}"),
            if_status=ExecutionStatus.SUBMITTED.value,
        )
        raise
    return execution_id
