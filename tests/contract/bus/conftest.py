"""One bus contract suite, every adapter: the in-process bus and RabbitMQ.

The RabbitMQ cases talk to the broker at ``PIPELINEJOBS_TEST_AMQP_URL`` (default the local
guest broker ``make test`` starts). An unreachable broker fails them: it is never a skip. Each
test gets its own namespace (``test-<uuid>``) and deletes its queues and exchanges afterwards,
so engineers sharing the broker do not collide.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from bus_kit import BusKit, local_bus, rabbitmq_bus
from pipelinejobs.bus.port import Bus
from pipelinejobs.bus.rabbitmq import RabbitMQBus


@pytest.fixture
def namespace() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def rabbitmq(namespace: str) -> AsyncIterator[RabbitMQBus]:
    """A started RabbitMQ bus in a fresh namespace, deleted afterwards."""
    bus = rabbitmq_bus(namespace)
    try:
        await bus.start()
        yield bus
    finally:
        await bus.close()
        await bus.delete_topology()  # also after a failed start: it may have declared some


@pytest.fixture(params=["local", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
async def kit(request: pytest.FixtureRequest, namespace: str) -> AsyncIterator[BusKit]:
    if request.param == "local":
        local = local_bus()
        await local.start()
        yield BusKit("local", local)
        await local.close()
        return
    bus = rabbitmq_bus(namespace)
    kit = BusKit("rabbitmq", bus, namespace)
    try:
        await bus.start()
        yield kit
    finally:
        for peer in kit.peers:
            await peer.close()
        await bus.close()
        await bus.delete_topology()


@pytest.fixture
def bus(kit: BusKit) -> Bus:
    return kit.bus
