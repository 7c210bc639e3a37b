"""Pick the bus adapter from configuration: an AMQP URL means RabbitMQ, none the in-process bus."""

from __future__ import annotations

from collections.abc import Sequence

from pipelinejobs.bus.port import Bus
from pipelinejobs.domain.actors import ACTOR_ALIASES


def create_bus(
    amqp_url: str | None,
    *,
    partitions: int = 8,
    namespace: str = "pipelinejobs",
    actors: Sequence[str] = ACTOR_ALIASES,
    balance_interval: float | None = 2.0,
) -> Bus:
    """A bus, not started yet: call ``await bus.start()`` before using it.

    ``balance_interval`` (RabbitMQ only): seconds between the presence beats with which the
    processes consuming an actor share its partitions; None leaves each partition with its
    first subscriber."""
    if not amqp_url:
        from pipelinejobs.bus.local import LocalBus

        return LocalBus(partitions=partitions, actors=actors)
    from pipelinejobs.bus.rabbitmq import RabbitMQBus  # aio-pika only where it is used

    return RabbitMQBus(
        amqp_url,
        partitions=partitions,
        namespace=namespace,
        actors=actors,
        balance_interval=balance_interval,
    )
