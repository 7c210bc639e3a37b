"""Consuming an actor's partition queues: one channel and one sequential worker per queue.

Each partition queue has single active consumer, so across every subscribing process one
consumer receives a partition at a time, in queue order, and the worker here hands those
deliveries to the handler one after the other. A delivery its handler leaves unsettled (it
raised, or returned without settling) is handed to it again, marked redelivered, after an
exponential pause, and one it asks to ``retry_later`` after the pause it asked for, both *in
place*: with ``prefetch`` > 1 later messages of the partition are already here, and rejecting a
batch back to a quorum queue does not keep its order (observed on 3.10), so giving it back to
the broker would break per-key order. It is never lost: if this consumer stops or dies, the
broker returns every unacked delivery, in order, to the next consumer.

Spreading the partitions: the broker makes the first subscriber of a queue its active consumer.
When the presence beats (``_rabbitmq_members``) say that another live process should own a
partition, the consumer active on it steps aside before handling its next delivery: it closes
that partition's channel (the unacked deliveries go back to the queue, in order) and subscribes
again at the back of the queue's waiting list, so the broker activates the next consumer. A
partition steps aside at most once per beat interval, so members that briefly disagree about
the membership slow a partition down but never stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from typing import Any

from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.exceptions import MessageProcessError

from pipelinejobs.bus._amqp_codec import from_message
from pipelinejobs.bus._rabbitmq_members import Membership
from pipelinejobs.bus._rabbitmq_publisher import BROKER_ERRORS, ConfirmedPublisher
from pipelinejobs.bus._settlement import Settlement, redelivery_delay, retry_in_place
from pipelinejobs.bus._topology import Topology
from pipelinejobs.bus.port import BatchHandler, Envelope, Handler
from pipelinejobs.errors import BusUnavailable, InvalidInput, TransientError
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
        *,
        batched: bool = False,
    ) -> None:
        self._message = message
        self._redelivered = redelivered
        self._envelope = envelope
        self._attempt = attempt
        self._publisher = publisher
        self._settlement = Settlement(envelope.message_id)
        self.retry_delay: float | None = None
        self._batched = batched
        self.ack_deferred = False
        """Acked as one of a batch: the consumer sends one ack for the batch's run of them."""

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
    def message(self) -> AbstractIncomingMessage:
        return self._message

    @property
    def settled(self) -> bool:
        return self._settlement.settled

    async def ack(self) -> None:
        self._settlement.begin("ack")
        if self._batched:
            # Sent by the consumer after the batch handler, with those of the deliveries before
            # it, as one ``multiple`` ack. An ack is never confirmed by the broker, so the
            # effect is the same: if it is lost, the broker redelivers, and the consumed ids
            # recognize the messages.
            self.ack_deferred = True
            self._settlement.done()
            return
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
        """Settled here; the consumer hands the same message over again after ``delay``."""
        self.retry_delay = retry_in_place(
            self._settlement, self._envelope, self._attempt, delay, reason, _log
        )

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
    """Receives one partition queue on its own channel and handles its deliveries in turn."""

    def __init__(
        self,
        subscription: RabbitSubscription,
        partition: int,
        topology: Topology,
        publisher: ConfirmedPublisher,
    ) -> None:
        self.actor = subscription.actor
        self.partition = partition
        self.queue = topology.partition_queue(self.actor, partition)
        self._arguments = topology.partition_queue_arguments(self.actor)
        self._subscription = subscription
        self._publisher = publisher
        self._inbox: asyncio.Queue[tuple[int, AbstractIncomingMessage] | None] = asyncio.Queue()
        self._stopping = asyncio.Event()
        self._failures = 0
        self._generation = 0
        self._channel: Any = None
        self._stepped_aside_at = float("-inf")
        self.task: asyncio.Task[None] | None = None

    async def open(self, connection: AbstractRobustConnection) -> None:
        """Subscribe, then start the worker that hands deliveries to the handler."""
        self._connection = connection
        await self._subscribe()
        self.task = asyncio.create_task(self._run(), name=f"bus-rabbitmq-{self.queue}")

    def request_stop(self) -> None:
        """Finish the delivery in hand, then take no more (the rest go back on channel close)."""
        self._stopping.set()
        self._inbox.put_nowait(None)

    async def close_channel(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            with contextlib.suppress(*BROKER_ERRORS):
                await channel.close()

    async def _subscribe(self) -> None:
        """A new channel and consumer; deliveries of earlier channels are ignored from now on."""
        self._generation += 1
        channel: Any = await self._connection.channel(publisher_confirms=False)
        self._channel = channel
        await channel.set_qos(prefetch_count=self._subscription.prefetch)
        queue = await channel.declare_queue(self.queue, durable=True, arguments=self._arguments)
        await queue.consume(functools.partial(self._receive, self._generation), no_ack=False)

    async def _receive(self, generation: int, message: AbstractIncomingMessage) -> None:
        self._inbox.put_nowait((generation, message))

    async def _run(self) -> None:
        while not self._stopping.is_set():
            item = await self._inbox.get()
            if item is None or self._stopping.is_set():
                return
            generation, message = item
            if generation != self._generation:
                continue  # came on a channel this consumer closed: the broker redelivers it
            if self._should_step_aside():
                await self._step_aside()
                continue
            if self._subscription.batch is None:
                await self._process(message)
            else:
                await self._process_batch([message, *self._waiting()])

    def _waiting(self) -> list[AbstractIncomingMessage]:
        """The deliveries already in the inbox behind the one in hand, up to the prefetch."""
        waiting: list[AbstractIncomingMessage] = []
        while len(waiting) < self._subscription.prefetch - 1 and not self._inbox.empty():
            item = self._inbox.get_nowait()
            if item is None:  # a stop: the loop sees it after this batch
                self._inbox.put_nowait(None)
                break
            generation, message = item
            if generation == self._generation:
                waiting.append(message)
        return waiting

    async def _process_batch(self, messages: list[AbstractIncomingMessage]) -> None:
        """Group commit: the batch handler settles a leading run of the messages together;
        the rest (from an unreadable one, or one to retry) go on one at a time, in order."""
        assert self._subscription.batch is not None
        deliveries: list[RabbitDelivery] = []
        for message in messages:
            try:
                envelope, attempt = from_message(message, self.actor)
            except InvalidInput:
                break  # dead-lettered by the single path, in its turn
            deliveries.append(
                RabbitDelivery(
                    message,
                    envelope,
                    attempt,
                    self._publisher,
                    bool(message.redelivered),
                    batched=True,
                )
            )
        done = 0
        if deliveries:
            try:
                await self._subscription.batch(deliveries)
            except Exception:
                _log.exception("batch handler raised", actor=self.actor, queue=self.queue)
            finally:
                await self._ack_deferred(deliveries)
            while done < len(deliveries) and deliveries[done].settled:
                done += 1
            if done:
                self._failures = 0
        retried = deliveries[done - 1] if done else None
        if retried is not None and retried.retry_delay is not None:
            done -= 1  # asked to retry: in place, after its pause, then the rest
        for message in messages[done:]:
            if self._stopping.is_set():
                return  # the channel's close gives the rest back, in order
            if retried is not None and message is retried.message and retried.retry_delay:
                await self._process(message, retries=1, pause=retried.retry_delay)
            else:
                await self._process(message)

    async def _ack_deferred(self, deliveries: list[RabbitDelivery]) -> None:
        """One ``multiple`` ack up to the last delivery of the batch acked as applied: every
        delivery before it on this channel is settled (the handler settles in order, and a
        dead-lettered one was acked already), so none is acked that should not be."""
        acked = [delivery for delivery in deliveries if delivery.ack_deferred]
        if not acked:
            return
        try:
            await acked[-1].message.ack(multiple=True)
        except _SETTLE_ERRORS as exc:
            _log.info(
                "acks of a batch not sent; the broker will redeliver its messages",
                queue=self.queue,
                messages=len(acked),
                reason=repr(exc),
            )

    def _should_step_aside(self) -> bool:
        membership = self._subscription.membership
        if membership is None:
            return False
        owner = membership.owner(self.partition)
        if owner is None or owner == membership.member:
            return False
        return time.monotonic() - self._stepped_aside_at >= membership.interval

    async def _step_aside(self) -> None:
        """Give the partition back to the broker and queue up again behind its other consumers."""
        self._stepped_aside_at = time.monotonic()
        await self.close_channel()
        try:
            await self._subscribe()
        except BROKER_ERRORS as exc:  # the robust connection is reconnecting: try again later
            _log.warning(
                "cannot subscribe again after stepping aside", queue=self.queue, error=repr(exc)
            )
            self._stepped_aside_at = float("-inf")
            return
        _log.info("partition handed to its owner", queue=self.queue)

    async def _process(
        self, message: AbstractIncomingMessage, *, retries: int = 0, pause: float = 0.0
    ) -> None:
        """Handle one delivery until it is settled, the channel is lost, or the consumer stops
        (``retries`` it already had in a batch, the last asking for ``pause`` first)."""
        redelivered = bool(message.redelivered) and not retries
        if pause:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), pause)
        while not self._stopping.is_set():
            if _channel_of(message) is None:
                return  # received on a channel since lost: the broker redelivers it
            settled, retry_delay = await self._settle(message, redelivered, retries)
            if not settled:
                self._failures += 1
                redelivered = True
                pause = redelivery_delay(self._failures)
            elif retry_delay is not None:
                retries += 1
                redelivered = False
                pause = retry_delay
            else:
                self._failures = 0
                return
            with contextlib.suppress(TimeoutError):
                # A stop ends the pause: closing the channel then gives the message back.
                await asyncio.wait_for(self._stopping.wait(), pause)

    async def _settle(
        self, message: AbstractIncomingMessage, redelivered: bool, retries: int
    ) -> tuple[bool, float | None]:
        """Hand the message to the handler: whether it settled, and the retry pause it asked."""
        try:
            envelope, attempt = from_message(message, self.actor)
        except InvalidInput as exc:
            return await self._park_unreadable(message, str(exc)), None
        delivery = RabbitDelivery(
            message, envelope, attempt + retries, self._publisher, redelivered
        )
        try:
            await self._subscription.handler(delivery)
        except TransientError as exc:
            # The connection went (an ack or a publish failed): the broker redelivers the
            # message, and the outage itself is logged once by the connection watch.
            _log.info(
                "delivery not settled; the broker will redeliver it",
                actor=self.actor,
                message_id=envelope.message_id,
                reason=str(exc),
            )
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
        return delivery.settled, delivery.retry_delay

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
    """One ``consume()``: a consumer (channel and worker) per partition queue of the actor."""

    def __init__(
        self,
        actor: str,
        handler: Handler,
        *,
        prefetch: int,
        balance_interval: float | None,
        batch: BatchHandler | None = None,
    ) -> None:
        self.actor = actor
        self.handler = handler
        self.batch = batch
        self.prefetch = prefetch
        self.member = uuid.uuid4().hex[:16]
        self._balance_interval = balance_interval
        self.membership: Membership | None = None
        self._consumers: list[PartitionConsumer] = []
        self._stopped = False

    async def open(
        self,
        connection: AbstractRobustConnection,
        topology: Topology,
        publisher: ConfirmedPublisher,
    ) -> None:
        if self._balance_interval is not None:
            membership = Membership(
                topology, self.actor, self.member, interval=self._balance_interval
            )
            self.membership = membership
            await membership.open(connection)
        for partition in range(topology.partitions):
            consumer = PartitionConsumer(self, partition, topology, publisher)
            self._consumers.append(consumer)
            await consumer.open(connection)

    async def stop(self, *, grace: float | None = None) -> None:
        """Finish in-flight deliveries, then close the channels (unacked ones go back, in order).

        ``grace`` bounds the wait: handlers still running then are cancelled, as if their
        process died, and the broker redelivers their messages to the next consumer.
        """
        if self._stopped:
            return
        self._stopped = True
        if self.membership is not None:
            await self.membership.close()  # the others stop deferring to this member
        for consumer in self._consumers:
            consumer.request_stop()
        tasks = [c.task for c in self._consumers if c.task is not None]
        if tasks:
            _, running = await asyncio.wait(tasks, timeout=grace)
            for task in running:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(consumer.close_channel() for consumer in self._consumers))


def _channel_of(message: AbstractIncomingMessage) -> object | None:
    """The AMQP channel the message came on, or None when that channel is closed."""
    try:
        return message.channel
    except BROKER_ERRORS:
        return None
