"""The bus's optional batch capability (group commit), on the in-process bus and on RabbitMQ.

With a ``batch`` handler, the deliveries waiting in a partition go to it together (up to the
prefetch), in order; those it leaves unsettled go on to the single-delivery handler, in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest
from bus_helpers import HANG_GUARD, envelope
from pipelinejobs.bus.port import Bus, Delivery

pytestmark = pytest.mark.asyncio


async def wait_for(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(HANG_GUARD):
        while not condition():  # noqa: ASYNC110 - the condition is the handlers' lists
            await asyncio.sleep(0.01)


async def test_waiting_deliveries_of_a_partition_reach_the_batch_handler_together(
    bus: Bus,
) -> None:
    messages = [envelope(key="job-1", body=str(seq).encode()) for seq in range(10)]
    batches: list[list[int]] = []
    singles: list[int] = []

    async def batch(deliveries: Sequence[Delivery]) -> int:
        batches.append([int(d.envelope.body) for d in deliveries])
        for delivery in deliveries:
            await delivery.ack()
        return len(deliveries)

    async def single(delivery: Delivery) -> None:
        singles.append(int(delivery.envelope.body))
        await delivery.ack()

    await bus.publish(messages)  # queued first, so the broker sends ahead (prefetch)
    subscription = await bus.consume("alpha", single, prefetch=16, batch=batch)
    await wait_for(lambda: sum(map(len, batches)) == 10)
    await subscription.stop()

    assert [seq for each in batches for seq in each] == list(range(10))
    assert len(batches) < 10  # some were handed over together
    assert singles == []


async def test_what_a_batch_leaves_unsettled_goes_to_the_single_handler_in_order(
    bus: Bus,
) -> None:
    messages = [envelope(key="job-1", body=str(seq).encode()) for seq in range(6)]
    settled: list[int] = []
    singles: list[int] = []
    first = asyncio.Event()
    left: list[int] = []

    async def batch(deliveries: Sequence[Delivery]) -> int:
        if first.is_set():
            for delivery in deliveries:
                await delivery.ack()
                settled.append(int(delivery.envelope.body))
            return len(deliveries)
        first.set()
        kept = min(2, len(deliveries) - 1)  # the next "fails": it and the rest stay unsettled
        left.append(int(deliveries[kept].envelope.body))
        for delivery in deliveries[:kept]:
            await delivery.ack()
            settled.append(int(delivery.envelope.body))
        return kept

    async def single(delivery: Delivery) -> None:
        singles.append(int(delivery.envelope.body))
        settled.append(int(delivery.envelope.body))
        await delivery.ack()

    await bus.publish(messages)
    subscription = await bus.consume("alpha", single, prefetch=16, batch=batch)
    await wait_for(lambda: len(settled) >= 6)
    await subscription.stop()

    assert settled == list(range(6))
    assert singles
    assert singles[0] == left[0]
