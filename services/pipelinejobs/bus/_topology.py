"""Names and arguments of the RabbitMQ topology of one namespace.

::

    <ns>.messages      direct exchange   routing key <actor>.<k>  ->  queue <ns>.<actor>.p<k>
    <ns>.dead-letter   direct exchange   routing key <actor>      ->  queue <ns>.<actor>.dead-letter
    <ns>.retry         headers exchange  header pipelinejobs-retry-delay=<ms>
                                                                   ->  queue <ns>.retry.<ms>
    <ns>.retry.<ms>    x-message-ttl <ms>, dead-letters back to <ns>.messages under the
                       message's own routing key, so it returns to its partition queue

Queues are quorum queues by default: replicated in a cluster, and the only type whose
dead-lettering can be at-least-once (``x-dead-letter-strategy``, RabbitMQ 3.10 or later). Retry
delay queues use it, since every retried message travels back by dead-lettering. Partition queues
do not: the bus publishes its dead letters itself (confirmed), and their broker-side
dead-lettering is only the delivery-limit fallback; each at-least-once queue also runs a
dead-letter worker in the broker, and RabbitMQ 3.10 loses that worker's supervisor when such
queues are deleted while starting (test churn). ``queue_type="classic"`` works on older brokers,
with at-most-once dead-lettering. Partition queues use single active consumer, so one consumer
handles a partition at a time, in order.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, Literal

QueueType = Literal["quorum", "classic"]

RETRY_BUCKETS_MS: tuple[int, ...] = (
    100,
    200,
    500,
    1_000,
    2_000,
    4_000,
    8_000,
    15_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    1_800_000,
    3_600_000,
)
"""Delay queues: a retry waits in the smallest bucket at least as long as asked (at most 1 h).

One TTL per queue keeps expiry in FIFO order (RabbitMQ only expires messages at a queue's head).
"""

RETRY_DELAY_HEADER = "pipelinejobs-retry-delay"

DEFAULT_DELIVERY_LIMIT = 1000
"""Quorum queues dead-letter a message returned unsettled this many times (poison protection).

A delivery goes back to its queue only when its consumer stops or dies before settling it
(handler failures are retried in place), so this catches a message that keeps killing its
consumer. Set explicitly so RabbitMQ 3.x and 4.x (default 20) behave alike.
"""

PARKED_DELIVERY_LIMIT = 1_000_000_000
"""Dead-letter queues are read by get-then-requeue, which counts as a delivery on quorum queues."""


def retry_bucket_ms(delay: float) -> int:
    """The delay bucket (ms) for ``delay`` seconds: the first one not shorter than asked."""
    wanted = max(0, round(delay * 1000))
    index = bisect.bisect_left(RETRY_BUCKETS_MS, wanted)
    return RETRY_BUCKETS_MS[min(index, len(RETRY_BUCKETS_MS) - 1)]


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

    @property
    def retry_exchange(self) -> str:
        return f"{self.namespace}.retry"

    def partition_queue(self, actor: str, partition: int) -> str:
        return f"{self.namespace}.{actor}.p{partition}"

    def routing_key(self, actor: str, partition: int) -> str:
        return f"{actor}.{partition}"

    def dead_letter_queue(self, actor: str) -> str:
        return f"{self.namespace}.{actor}.dead-letter"

    def retry_queue(self, bucket_ms: int) -> str:
        return f"{self.namespace}.retry.{bucket_ms}"

    def all_queues(self) -> list[str]:
        """Every queue this namespace may have (retry buckets are declared on first use)."""
        names = [
            self.partition_queue(actor, k) for actor in self.actors for k in range(self.partitions)
        ]
        names += [self.dead_letter_queue(actor) for actor in self.actors]
        names += [self.retry_queue(ms) for ms in RETRY_BUCKETS_MS]
        return names

    def all_exchanges(self) -> list[str]:
        return [self.messages_exchange, self.dead_letter_exchange, self.retry_exchange]

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

    def retry_queue_arguments(self, bucket_ms: int) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "x-queue-type": self.queue_type,
            "x-message-ttl": bucket_ms,
            "x-dead-letter-exchange": self.messages_exchange,
        }
        if self.queue_type == "quorum":
            arguments |= _safe_dead_lettering()
        return arguments

    def retry_binding_arguments(self, bucket_ms: int) -> dict[str, Any]:
        # Header names starting with "x-" are ignored by the headers exchange, hence this name.
        return {"x-match": "all", RETRY_DELAY_HEADER: str(bucket_ms)}


def _safe_dead_lettering() -> dict[str, Any]:
    return {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
