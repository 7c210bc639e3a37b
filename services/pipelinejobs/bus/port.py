"""The bus port: durable, ordered, at-least-once delivery of messages to actors.

Semantics every adapter keeps (the bus contract suite checks them on each):

- **Durable publish.** ``publish`` returns only when the broker has confirmed every envelope
  (persistent messages, publisher confirms; a batch is confirmed together, not one by one).
  It raises ``BusUnavailable`` when that cannot be had; then nothing may be assumed delivered.
- **At-least-once.** A delivery stays unacknowledged until the handler settles it with
  ``ack``, ``retry_later`` or ``dead_letter``. A handler that raises, or a consumer that dies,
  leaves the delivery to be redelivered (``redelivered`` is then true where the broker knows).
- **Per-key order.** Envelopes with the same ``partition_key`` (a job or pipeline uuid) are
  delivered to one handler invocation at a time, in publish order, however many consumers
  subscribe to the actor. Envelopes with different keys may be handled concurrently.
- **Dead letters.** ``dead_letter(reason)`` moves the message to the actor's dead-letter queue
  with the reason attached; ``dead_letters(actor)`` reads the oldest back without removing them.
- **Retry.** ``retry_later(delay, reason)`` settles this delivery and hands the same envelope
  to the handler again after ``delay`` seconds, with ``attempt`` increased by one, *in its
  place*: later messages of its partition wait, so a retry never reorders a key. If the
  consumer stops during the pause, the message goes back to its queue unsettled.
- **Sharing.** Subscriptions of one actor share its partitions: each partition has one active
  subscription at a time and moves to another when that one stops or dies. The RabbitMQ bus
  also spreads the partitions over the processes that subscribe (``_rabbitmq_members``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pipelinejobs.errors import NotFound

JSON_CONTENT_TYPE = "application/json"
PROTOBUF_CONTENT_TYPE = "application/x-protobuf"


@dataclass(frozen=True)
class Envelope:
    """One message to one actor, as it travels on the bus.

    ``context`` holds the URL parameters of the HTTP request that made it (Abaco's message
    context); ``headers`` holds system metadata (``execution_id``, ``sender``...), never secrets
    that are not already in the body or context.
    """

    actor: str
    body: bytes
    message_id: str
    content_type: str = JSON_CONTENT_TYPE
    message_type: str | None = None
    partition_key: str | None = None
    context: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


class UnknownActor(NotFound):
    """A message addressed to an actor the bus has no queue for (every adapter refuses it so,
    naming the actors it knows)."""

    def __init__(self, actor: str, known: Iterable[str]) -> None:
        self.actor = actor
        self.known = sorted(known)
        super().__init__(
            f"actor {actor!r} has no queue on this bus; known actors: {', '.join(self.known)}"
        )


@dataclass(frozen=True)
class DeadLetter:
    envelope: Envelope
    reason: str


class Delivery(Protocol):
    """One delivery of an envelope to a handler; settle it exactly once."""

    @property
    def envelope(self) -> Envelope: ...

    @property
    def attempt(self) -> int:
        """1 for the first delivery, increased by each ``retry_later``."""

    @property
    def redelivered(self) -> bool:
        """True when the broker delivered this before without a settlement."""

    async def ack(self) -> None: ...

    async def retry_later(self, delay: float, reason: str) -> None: ...

    async def dead_letter(self, reason: str) -> None: ...


Handler = Callable[[Delivery], Awaitable[None]]
BatchHandler = Callable[[Sequence[Delivery]], Awaitable[int]]
"""Group commit: takes deliveries of one partition, in order, settles a leading run of them
(returns how many); the bus hands the rest to the single-delivery handler, one at a time."""


class Subscription(Protocol):
    async def stop(self) -> None:
        """Stop taking deliveries and wait for in-flight handlers to finish (graceful)."""


class Bus(ABC):
    @property
    @abstractmethod
    def actors(self) -> tuple[str, ...]:
        """The actor aliases this bus has queues for; a message to any other is refused."""

    @abstractmethod
    async def start(self) -> None:
        """Connect and declare the topology. Idempotent."""

    @abstractmethod
    async def close(self) -> None:
        """Stop every subscription gracefully and disconnect."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise ``BusUnavailable`` when the broker cannot be reached now (readiness)."""

    @abstractmethod
    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Publish durably; return after every envelope is confirmed (see module docstring)."""

    @abstractmethod
    async def consume(
        self,
        actor: str,
        handler: Handler,
        *,
        prefetch: int = 16,
        batch: BatchHandler | None = None,
    ) -> Subscription:
        """Deliver the actor's messages to ``handler`` until the subscription stops. With
        ``batch``, the deliveries already waiting in a partition (up to ``prefetch``) go to
        ``batch`` together; those it leaves unsettled go on to ``handler``, in order."""

    @abstractmethod
    async def dead_letters(self, actor: str, *, limit: int = 1000) -> list[DeadLetter]:
        """The actor's oldest ``limit`` dead-lettered messages with their reasons, oldest first."""
