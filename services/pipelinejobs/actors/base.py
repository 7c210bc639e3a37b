"""What every actor sees: the message it handles and the context of its execution.

Actors are thin handlers over ``domain/`` and the ports. They never ack, retry or publish
themselves: they return a result and queue follow-up messages with :meth:`ActorContext.send`; the
runtime publishes the follow-ups (confirmed) and only then acks the delivery. A handler raises a
``PermanentError`` to refuse a message and may raise ``VersionConflict`` to have the runtime
reload-and-retry it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pipelinejobs.bus.port import Envelope
from pipelinejobs.domain.derived_ids import follow_up_message_id
from pipelinejobs.domain.executions import execution_id_for
from pipelinejobs.domain.tokens import AdminTokens, UpdateTokens
from pipelinejobs.logs import ExecutionLog
from pipelinejobs.settings import Settings
from pipelinejobs.store.port import Store


@dataclass(frozen=True)
class Message:
    """A decoded message: the body document plus its transport metadata.

    ``context`` holds the URL parameters of the HTTP request (Abaco's message context), merged
    by each actor with the body as the documentation describes.
    """

    document: dict[str, Any]
    context: Mapping[str, str]
    message_id: str
    message_type: str | None = None
    sender: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def param(self, name: str) -> str | None:
        """A URL parameter, ignoring empty values."""
        value = self.context.get(name)
        return value if value else None


@dataclass
class ActorContext:
    """Everything one execution of a handler may use."""

    actor: str
    execution_id: str
    message_id: str
    store: Store
    settings: Settings
    update_tokens: UpdateTokens
    admin_tokens: AdminTokens
    log: ExecutionLog
    follow_ups: list[Envelope] = field(default_factory=list)
    sender: str | None = None
    """Who sent the message (recorded with the events it appends)."""

    def send(
        self, actor: str, document: Mapping[str, Any], *, partition_key: str | None = None
    ) -> Envelope:
        """Queue a follow-up message; its id derives from this message's, so a redelivery
        republishes the same follow-up and the receiver recognizes it."""
        message_id = follow_up_message_id(self.message_id, len(self.follow_ups) + 1)
        envelope = Envelope(
            actor=actor,
            body=json.dumps(document, separators=(",", ":")).encode(),
            message_id=message_id,
            partition_key=partition_key,
            headers={
                "execution_id": execution_id_for(message_id),
                "sender": f"actor:{self.actor}",
                "caused_by": self.execution_id,
            },
        )
        self.follow_ups.append(envelope)
        return envelope


class Actor(Protocol):
    """An actor: one alias, one handler.

    An actor may also define ``check(message) -> None``: the synchronous part of its
    validation (form, schema, filters), which the gateway runs before accepting a message so
    a malformed one is refused with HTTP 422 instead of becoming an ERROR execution later.

    Deliveries waiting together are applied as a batch with one commit (group commit, see
    :mod:`pipelinejobs.actors.runtime`): a handler may then run again after a failed commit.
    An actor whose handler has effects outside the store that must not be repeated (calling a
    compute service) sets ``group_commit = False`` and gets its deliveries one at a time.
    """

    alias: ClassVar[str]

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        """Apply the message; the returned mapping is the execution's result (reply)."""
