"""Names and arguments of the RabbitMQ topology of one namespace.

::

    <ns>.messages          direct exchange  routing key <actor>.<k>  ->  queue <ns>.<actor>.p<k>
    <ns>.dead-letter       direct exchange  routing key <actor>  ->  queue <ns>.<actor>.dead-letter
    <ns>.<actor>.members   fanout exchange  ->  one exclusive queue per consuming process
                           <ns>.<actor>.members.<member> (presence beats, ``_rabbitmq_members``)

Queues are quorum queues by default: replicated in a cluster, with a delivery limit that
dead-letters a message which keeps killing its consumers. ``queue_type="classic"`` works on
brokers without quorum queues. Partition queues use single active consumer, so one consumer
handles a partition at a time, in order; retries happen in place in that consumer (see
``_rabbitmq_consumer``), so there are no delay queues to keep order across.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

QueueType = Literal["quorum", "classic"]

DEFAULT_DELIVERY_LIMIT = 1000
"""Quorum queues dead-letter a message returned unsettled this many times (poison protection).

A delivery goes back to its queue only when its consumer stops or dies before settling it
(handler failures are retried in place), so this catches a message that keeps killing its
consumer. Set explicitly so RabbitMQ 3.x and 4.x (default 20) behave alike.
"""

PARKED_DELIVERY_LIMIT = 1_000_000_000
"""Dead-letter queues are read by get-then-requeue, which counts as a delivery on quorum queues."""


@dataclass(frozen=True)
class Topology:
    namespace: str
    partitions: int
    actors: tuple[str, ...]
    queue_type: QueueType = "quorum"
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT

    @property
    def messages_exchange(self) -> str:
        return f"{self.namespace}.messages"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.namespace}.dead-letter"

    def members_exchange(self, actor: str) -> str:
        return f"{self.namespace}.{actor}.members"

    def member_queue(self, actor: str, member: str) -> str:
        return f"{self.namespace}.{actor}.members.{member}"

    def partition_queue(self, actor: str, partition: int) -> str:
        return f"{self.namespace}.{actor}.p{partition}"

    def routing_key(self, actor: str, partition: int) -> str:
        return f"{actor}.{partition}"

    def dead_letter_queue(self, actor: str) -> str:
        return f"{self.namespace}.{actor}.dead-letter"

    def all_queues(self) -> list[str]:
        """Every durable queue of this namespace (member queues go with their connections)."""
        names = [
            self.partition_queue(actor, k) for actor in self.actors for k in range(self.partitions)
        ]
        names += [self.dead_letter_queue(actor) for actor in self.actors]
        return names

    def all_exchanges(self) -> list[str]:
        members = [self.members_exchange(actor) for actor in self.actors]
        return [self.messages_exchange, self.dead_letter_exchange, *members]

    def partition_queue_arguments(self, actor: str) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "x-queue-type": self.queue_type,
            "x-single-active-consumer": True,
            "x-dead-letter-exchange": self.dead_letter_exchange,
            "x-dead-letter-routing-key": actor,
        }
        if self.queue_type == "quorum":
            arguments["x-delivery-limit"] = self.delivery_limit
        return arguments

    def dead_letter_queue_arguments(self) -> dict[str, Any]:
        arguments: dict[str, Any] = {"x-queue-type": self.queue_type}
        if self.queue_type == "quorum":
            arguments["x-delivery-limit"] = PARKED_DELIVERY_LIMIT
        return arguments
