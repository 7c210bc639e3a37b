"""The in-process bus of the embedded mode: the RabbitMQ adapter's semantics on asyncio queues.

Each actor has ``partitions`` ordered queues; an envelope goes to the queue its partition key
hashes to (the same crc32 as RabbitMQ's routing). Like RabbitMQ's single active consumer, however
many subscriptions an actor has, one handles a partition at a time, one delivery after the
other; different partitions run concurrently. A delivery its handler leaves unsettled (raised, or
returned without settling) goes back to the head of its partition with ``redelivered`` set, and
one it asks to ``retry_later`` goes back to the head after its pause, with the next attempt.
The oldest running subscription handles every partition (one process gains nothing from
spreading them; the RabbitMQ bus spreads them over processes).

Not durable: messages live in this process's memory. At-least-once here covers handler failures,
retries and stopped subscriptions, not a crash of the process: queued messages and dead letters
are gone when it exits (the execution records in the store keep every refusal and its reason).
Run on RabbitMQ when that matters.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pipelinejobs.bus._envelopes import (
    check_actor,
    check_actors,
    check_envelopes,
    check_partitions,
    check_prefetch,
    detached,
    partition_for,
)
from pipelinejobs.bus._settlement import Settlement, redelivery_delay, retry_in_place
from pipelinejobs.bus.port import (
    BatchHandler,
    Bus,
    DeadLetter,
    Envelope,
    Handler,
    Subscription,
)
from pipelinejobs.domain.actors import ACTOR_ALIASES
from pipelinejobs.errors import BusUnavailable
from pipelinejobs.logs import process_logger

_log = process_logger(component="bus", adapter="local")


@dataclass(frozen=True)
class _Item:
    envelope: Envelope
    attempt: int = 1
    redelivered: bool = False


class _Partition:
    """One ordered queue; hands its head to the active subscription when nothing is in flight."""

    def __init__(self) -> None:
        self.pending: deque[_Item] = deque()
        self.consumers: list[LocalSubscription] = []
        self.busy = False
        self._waiters: set[asyncio.Future[None]] = set()

    def active(self) -> LocalSubscription | None:
        """The oldest subscription still running, as RabbitMQ's single active consumer."""
        return next((c for c in self.consumers if not c.stopping), None)

    def put(self, item: _Item) -> None:
        self.pending.append(item)
        self.notify()

    def release(self, requeue: _Item | None) -> None:
        """End the in-flight delivery; an unsettled one goes back to the head, order intact."""
        if requeue is not None:
            self.pending.appendleft(requeue)
        self.busy = False
        self.notify()

    async def take(self, subscription: LocalSubscription) -> _Item | None:
        """The next item for ``subscription``, or None once it is stopping."""
        while not subscription.stopping:
            if not self.busy and self.pending and self.active() is subscription:
                self.busy = True
                return self.pending.popleft()
            await self._changed()
        return None

    def notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def _changed(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await waiter
        finally:
            self._waiters.discard(waiter)


class _LocalDelivery:
    def __init__(self, bus: LocalBus, item: _Item) -> None:
        self._bus = bus
        self._item = item
        self._settlement = Settlement(item.envelope.message_id)
        self.retry_delay: float | None = None

    @property
    def envelope(self) -> Envelope:
        return self._item.envelope

    @property
    def attempt(self) -> int:
        return self._item.attempt

    @property
    def redelivered(self) -> bool:
        return self._item.redelivered

    @property
    def settled(self) -> bool:
        return self._settlement.settled

    async def ack(self) -> None:
        self._settlement.begin("ack")
        self._settlement.done()

    async def retry_later(self, delay: float, reason: str) -> None:
        """Settled here; the worker hands the same envelope over again after ``delay``."""
        self.retry_delay = retry_in_place(
            self._settlement, self.envelope, self.attempt, delay, reason, _log
        )

    async def dead_letter(self, reason: str) -> None:
        self._settlement.begin("dead_letter")
        self._bus._keep_dead_letter(DeadLetter(self._item.envelope, reason))
        self._settlement.done()


class LocalSubscription:
    """One ``consume()``: a worker per partition of the actor, each sequential."""

    def __init__(
        self,
        actor: str,
        handler: Handler,
        partitions: Sequence[_Partition],
        *,
        batch: BatchHandler | None = None,
        prefetch: int = 1,
    ) -> None:
        self.actor = actor
        self._batch = batch
        self._prefetch = prefetch
        self.stopping = False
        self._stop_requested = asyncio.Event()
        self._handler = handler
        self._partitions = tuple(partitions)
        self._workers: list[asyncio.Task[None]] = []

    def _start(self, bus: LocalBus) -> None:
        for index, partition in enumerate(self._partitions):
            partition.consumers.append(self)
            worker = asyncio.create_task(
                self._work(bus, partition), name=f"bus-local-{self.actor}-p{index}"
            )
            self._workers.append(worker)

    async def stop(self, *, grace: float | None = None) -> None:
        """Take no more deliveries and wait for the in-flight ones.

        ``grace`` bounds the wait: handlers still running then are cancelled, as if their
        process died, and their deliveries go back to the head of their partition.
        """
        self.stopping = True
        self._stop_requested.set()
        for partition in self._partitions:
            partition.notify()
        if self._workers:
            _, running = await asyncio.wait(self._workers, timeout=grace)
            for worker in running:
                worker.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
        for partition in self._partitions:
            if self in partition.consumers:
                partition.consumers.remove(self)
            partition.notify()

    async def _work(self, bus: LocalBus, partition: _Partition) -> None:
        failures = 0
        singly = 0  # how many of the next items go to the single-delivery handler
        while (item := await partition.take(self)) is not None:
            if self._batch is not None and not singly:
                try:
                    singly = await self._run_batch(bus, partition, item)
                finally:
                    partition.release(None)
                if singly == 0:
                    failures = 0
                continue
            delivery = _LocalDelivery(bus, item)
            again: _Item | None = replace(item, redelivered=True)
            pause = 0.0
            try:
                await self._run_handler(delivery)
                if delivery.retry_delay is not None:
                    again = replace(item, attempt=item.attempt + 1, redelivered=False)
                    pause = delivery.retry_delay
                elif delivery.settled:
                    failures, again = 0, None
                    singly = max(singly - 1, 0)
                else:
                    failures += 1
                    pause = redelivery_delay(failures)
                if again is not None:
                    with contextlib.suppress(TimeoutError):
                        # A stop ends the pause early; the delivery goes back to the head anyway.
                        await asyncio.wait_for(self._stop_requested.wait(), pause)
            finally:
                partition.release(again)

    async def _run_batch(self, bus: LocalBus, partition: _Partition, item: _Item) -> int:
        """Group commit: ``item`` and the items waiting behind it (up to the prefetch) to the
        batch handler; those it leaves unsettled go back to the head, in order, for the
        single-delivery handler. Returns how many went back."""
        assert self._batch is not None
        items = [item]
        while partition.pending and len(items) < self._prefetch:
            items.append(partition.pending.popleft())
        deliveries = [_LocalDelivery(bus, each) for each in items]
        try:
            await self._batch(deliveries)
        except Exception:
            _log.exception("batch handler raised", actor=self.actor)
        finally:
            done = 0
            while done < len(deliveries) and deliveries[done].settled:
                done += 1
            back = items[done:]
            pause = deliveries[done - 1].retry_delay if done else None
            if pause is not None:  # asked to retry: in place, after its pause, then the rest
                retried = items[done - 1]
                back.insert(0, replace(retried, attempt=retried.attempt + 1, redelivered=False))
            partition.pending.extendleft(reversed(back))
        if pause is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_requested.wait(), pause)
        return len(back)

    async def _run_handler(self, delivery: _LocalDelivery) -> None:
        envelope = delivery.envelope
        try:
            await self._handler(delivery)
        except Exception:
            _log.exception(
                "handler raised",
                actor=self.actor,
                message_id=envelope.message_id,
                redelivered_next=not delivery.settled,
            )
            return
        if not delivery.settled:
            _log.warning(
                "handler returned without settling; the delivery will be redelivered",
                actor=self.actor,
                message_id=envelope.message_id,
            )


class LocalBus(Bus):
    """In-process bus for one process (embedded mode); see the module docstring for its limits."""

    def __init__(self, *, partitions: int = 8, actors: Sequence[str] = ACTOR_ALIASES) -> None:
        self.partitions = check_partitions(partitions)
        self._actors = check_actors(actors)
        self._queues = {actor: [_Partition() for _ in range(partitions)] for actor in self.actors}
        self._dead_letters: dict[str, list[DeadLetter]] = {actor: [] for actor in self.actors}
        self._subscriptions: list[LocalSubscription] = []
        self._started = False
        self._closed = False

    @property
    def actors(self) -> tuple[str, ...]:
        return self._actors

    async def start(self) -> None:
        if self._closed:
            raise BusUnavailable("the in-process bus is closed; create a new one")
        self._started = True

    async def close(self) -> None:
        """Stop subscriptions gracefully; queued messages are dropped."""
        self._closed = True
        subscriptions, self._subscriptions = self._subscriptions, []
        await asyncio.gather(*(s.stop() for s in subscriptions))

    async def ping(self) -> None:
        self._require_open()

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Enqueue all or nothing: the batch is checked whole before any envelope is queued."""
        self._require_open()
        check_envelopes(envelopes, self.actors)
        for envelope in envelopes:
            self._enqueue(_Item(detached(envelope)))

    async def consume(
        self,
        actor: str,
        handler: Handler,
        *,
        prefetch: int = 16,
        batch: BatchHandler | None = None,
    ) -> Subscription:
        """Subscribe ``handler``; ``prefetch`` bounds a ``batch`` (nothing crosses a network)."""
        self._require_open()
        check_actor(actor, self.actors)
        check_prefetch(prefetch)
        subscription = LocalSubscription(
            actor, handler, self._queues[actor], batch=batch, prefetch=prefetch
        )
        subscription._start(self)
        self._subscriptions.append(subscription)
        return subscription

    async def dead_letters(self, actor: str, *, limit: int = 1000) -> list[DeadLetter]:
        check_actor(actor, self.actors)
        return self._dead_letters[actor][:limit]

    def _require_open(self) -> None:
        if self._closed:
            raise BusUnavailable("the in-process bus is closed")
        if not self._started:
            raise BusUnavailable("the in-process bus is not started; call start() first")

    def _enqueue(self, item: _Item) -> None:
        envelope = item.envelope
        self._queues[envelope.actor][partition_for(envelope, self.partitions)].put(item)

    def _keep_dead_letter(self, dead_letter: DeadLetter) -> None:
        self._dead_letters[dead_letter.envelope.actor].append(dead_letter)
        _log.warning(
            "message dead-lettered",
            actor=dead_letter.envelope.actor,
            message_id=dead_letter.envelope.message_id,
            reason=dead_letter.reason,
        )
