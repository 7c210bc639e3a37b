"""The buses under test: which adapter, and how to get another process's view of it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from pipelinejobs.bus.local import LocalBus
from pipelinejobs.bus.port import Bus
from pipelinejobs.bus.rabbitmq import RabbitMQBus

AMQP_URL = os.environ.get("PIPELINEJOBS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
ACTORS = ("alpha", "beta")
PARTITIONS = 4


def local_bus() -> LocalBus:
    return LocalBus(partitions=PARTITIONS, actors=ACTORS)


def rabbitmq_bus(namespace: str, **options: object) -> RabbitMQBus:
    settings: dict[str, Any] = {"partitions": PARTITIONS, "actors": ACTORS}
    return RabbitMQBus(AMQP_URL, namespace=namespace, reconnect_interval=0.5, **settings | options)


@dataclass
class BusKit:
    """The bus under test (started), plus peers: other processes on the same broker."""

    kind: str
    bus: Bus
    namespace: str = ""
    peers: list[RabbitMQBus] = field(default_factory=list)

    async def peer(self) -> Bus:
        """Another process's bus (the in-process bus has only itself to offer)."""
        if not isinstance(self.bus, RabbitMQBus):
            return self.bus
        other = rabbitmq_bus(self.namespace)
        self.peers.append(other)
        await other.start()
        return other

    def unstarted(self) -> Bus:
        """A new bus of the same kind, not started."""
        if isinstance(self.bus, RabbitMQBus):
            return rabbitmq_bus(self.namespace)
        return local_bus()
