"""Consuming an actor's partition queues: one sequential worker per queue, manual acks.

Each partition queue has single active consumer, so across every subscribing process one
consumer receives a partition at a time, in queue order, and the worker here hands those
deliveries to the handler one after the other. A delivery its handler leaves unsettled (it
raised, or returned without settling) is handed to it again, marked redelivered, after an
exponential pause, *in place*: with ``prefetch`` > 1 later messages of the partition are already
here, and rejecting a batch back to a quorum queue does not keep its order (observed on 3.10),
so giving it back to the broker would break per-key order. It is never lost: if this consumer
stops or dies, the broker returns every unacked delivery, in order, to the next consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel, AbstractRobustConnection
from aio_pika.exceptions import MessageProcessError

from pipelinejobs.bus._amqp_codec import from_message
from pipelinejobs.bus._rabbitmq_publisher import BROKER_ERRORS, ConfirmedPublisher
from pipelinejobs.bus._settlement import Settlement, redelivery_delay
from pipelinejobs.bus._topology import Topology
from pipelinejobs.bus.port import Envelope, Handler
from pipelinejobs.errors import BusUnavailable, InvalidInput
from pipelinejobs.logs import process_logger

_log = process_logger(component="bus", adapter="rabbitmq")
_SETTLE_ERRORS: tuple[type[BaseException], ...] = (*BROKER_ERRORS, MessageProcessError)
_PARK_ERRORS: tuple[type[BaseException], ...] = (*_SETTLE_ERRORS, BusUnavailable)


class RabbitDelivery:
    def __init__(
        self,
        message: AbstractIncomingMessage,
        envelope: Envelope,
        attempt: int,
        publisher: ConfirmedPublisher,
        redelivered: bool,
    ) -> None:
        self._message = message
        self._redelivered = redelivered
        self._envelope = envelope
        self._attempt = attempt
        self._publisher = publisher
        self._settlement = Settlement(envelope.message_id)

    @property
    def envelope(self) -> Envelope:
        return self._envelope

    @property
    def attempt(self) -> int:
        return self._attempt

    @property
    def redelivered(self) -> bool:
        return self._redelivered

    @property
    def settled(self) -> bool:
        return self._settlement.settled

    async def ack(self) -> None:
        self._settlement.begin("ack")
        try:
            await self._message.ack()
        except _SETTLE_ERRORS as exc:
            self._settlement.fail()
            raise BusUnavailable(
                f"cannot ack message {self._envelope.message_id!r}: {exc!r}; "
                "the broker will redeliver it"
            ) from exc
        self._settlement.done()

    async def retry_later(self, delay: float, reason: str) -> None:
        self._settlement.begin("retry_later")
        try:
            await self._publisher.retry(self._envelope, self._attempt + 1, delay, reason)
        except BaseException:
            self._settlement.fail()
            raise
        self._settlement.done()
        _log.info(
            "delivery retried later",
            actor=self._envelope.actor,
            message_id=self._envelope.message_id,
            attempt=self._attempt,
            delay=delay,
            reason=reason,
        )
        await self._ack_settled("retry_later")

    async def dead_letter(self, reason: str) -> None:
        self._settlement.begin("dead_letter")
        try:
            await self._publisher.park(self._envelope, self._attempt, reason)
        except BaseException:
            self._settlement.fail()
            raise
        self._settlement.done()
        _log.warning(
            "message dead-lettered",
            actor=self._envelope.actor,
            message_id=self._envelope.message_id,
            reason=reason,
        )
        await self._ack_settled("dead_letter")

    async def _ack_settled(self, how: str) -> None:
        """Ack after the copy is confirmed; if the ack is lost, the original comes back too."""
        try:
            await self._message.ack()
        except _SETTLE_ERRORS as exc:
            raise BusUnavailable(
                f"{how} of message {self._envelope.message_id!r} is confirmed but its ack "
                f"failed ({exc!r}): the broker will redeliver the original as well"
            ) from exc


class PartitionConsumer:
    """Receives one partition queue and handles its deliveries strictly one at a time."""

    def __init__(
        self, actor: str, queue: str, handler: Handler, publisher: ConfirmedPublisher
    ) -> None:
        self.actor = actor
        self.queue = queue
        self._handler = handler
        self._publisher = publisher
        self._inbox: asyncio.Queue[AbstractIncomingMessage | None] = asyncio.Queue()
        self._stopping = asyncio.Event()
        self._failures = 0
        self.task: asyncio.Task[None] | None = None

    async def receive(self, message: AbstractIncomingMessage) -> None:
        self._inbox.put_nowait(message)

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"bus-rabbitmq-{self.queue}")

    def request_stop(self) -> None:
        """Finish the delivery in hand, then take no more (the rest go back on channel close)."""
        self._stopping.set()
        self._inbox.put_nowait(None)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            message = await self._inbox.get()
            if message is None or self._stopping.is_set():
                return
            await self._process(message)

    async def _process(self, message: AbstractIncomingMessage) -> None:
        """Handle one delivery until it is settled, the channel is lost, or the consumer stops."""
        redelivered = bool(message.redelivered)
        while not self._stopping.is_set():
            if _channel_of(message) is None:
                return  # received on a channel since lost: the broker redelivers it
            if await self._settle(message, redelivered):
                self._failures = 0
                return
            self._failures += 1
            redelivered = True
            with contextlib.suppress(TimeoutError):
                # A stop ends the pause: closing the channel then gives the message back.
                await asyncio.wait_for(self._stopping.wait(), redelivery_delay(self._failures))

    async def _settle(self, message: AbstractIncomingMessage, redelivered: bool) -> bool:
        """Hand the message to the handler; True once it is settled."""
        try:
            envelope, attempt = from_message(message, self.actor)
        except InvalidInput as exc:
            return await self._park_unreadable(message, str(exc))
        delivery = RabbitDelivery(message, envelope, attempt, self._publisher, redelivered)
        try:
            await self._handler(delivery)
        except Exception:
            _log.exception(
                "handler raised",
                actor=self.actor,
                message_id=envelope.message_id,
                redelivered_next=not delivery.settled,
            )
        else:
            if not delivery.settled:
                _log.warning(
                    "handler returned without settling; the delivery will be redelivered",
                    actor=self.actor,
                    message_id=envelope.message_id,
                )
        return delivery.settled

    async def _park_unreadable(self, message: AbstractIncomingMessage, problem: str) -> bool:
        reason = f"unreadable message: {problem}"
        try:
            await self._publisher.park_raw(message, self.actor, reason)
            await message.ack()
        except _PARK_ERRORS:
            _log.exception("cannot dead-letter an unreadable message", queue=self.queue)
            return False
        _log.warning("unreadable message dead-lettered", queue=self.queue, reason=reason)
        return True


class RabbitSubscription:
    """One ``consume()``: its own channel, a consumer and a worker per partition queue."""

    def __init__(self, actor: str, handler: Handler, *, prefetch: int) -> None:
        self.actor = actor
        self._handler = handler
        self._prefetch = prefetch
        self._channel: AbstractRobustChannel | None = None
        self._consumers: list[PartitionConsumer] = []
        self._stopped = False

    async def open(
        self,
        connection: AbstractRobustConnection,
        topology: Topology,
        publisher: ConfirmedPublisher,
    ) -> None:
        channel: Any = await connection.channel(publisher_confirms=False)
        self._channel = channel
        await channel.set_qos(prefetch_count=self._prefetch)
        arguments = topology.partition_queue_arguments(self.actor)
        for partition in range(topology.partitions):
            name = topology.partition_queue(self.actor, partition)
            queue = await channel.declare_queue(name, durable=True, arguments=arguments)
            consumer = PartitionConsumer(self.actor, name, self._handler, publisher)
            consumer.start()
            self._consumers.append(consumer)
            await queue.consume(consumer.receive, no_ack=False)

    async def stop(self, *, grace: float | None = None) -> None:
        """Finish in-flight deliveries, then close the channel (unacked ones go back, in order).

        ``grace`` bounds the wait: handlers still running then are cancelled, as if their
        process died, and the broker redelivers their messages to the next consumer.
        """
        if self._stopped:
            return
        self._stopped = True
        for consumer in self._consumers:
            consumer.request_stop()
        tasks = [c.task for c in self._consumers if c.task is not None]
        if tasks:
            _, running = await asyncio.wait(tasks, timeout=grace)
            for task in running:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._channel is not None:
            with contextlib.suppress(*BROKER_ERRORS):
                await self._channel.close()


def _channel_of(message: AbstractIncomingMessage) -> object | None:
    """The AMQP channel the message came on, or None when that channel is closed."""
    try:
        return message.channel
    except BROKER_ERRORS:
        return None
