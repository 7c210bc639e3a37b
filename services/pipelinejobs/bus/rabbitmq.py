"""The distributed bus: RabbitMQ through aio-pika, with confirms, partitions and dead letters.

The application declares its topology in :meth:`RabbitMQBus.start` (see ``_topology`` for the
names, queue type and why). An envelope goes to partition ``crc32(partition_key) % partitions``
of its actor (``message_id`` when it has no key): a durable queue with single active consumer,
so every message of one job is handled by one consumer at a time, in publish order, however
many processes subscribe. The processes spread the partitions among themselves
(``balance_interval``, see ``_rabbitmq_members``), so replicas add throughput. The connection
is robust: after a broker restart or a dropped connection it reconnects, re-declares the
topology and resumes the consumers; messages that were unacked then are redelivered, and
publishes during the outage raise ``BusUnavailable``. An outage it recovers from is logged as
one warning and one info line (``_rabbitmq_logs``), not as the libraries' error per attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Sequence
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.exceptions import ChannelPreconditionFailed

from pipelinejobs.bus._amqp_codec import death_reason, from_message
from pipelinejobs.bus._envelopes import (
    check_actor,
    check_actors,
    check_envelopes,
    check_partitions,
    check_prefetch,
)
from pipelinejobs.bus._rabbitmq_consumer import RabbitSubscription
from pipelinejobs.bus._rabbitmq_logs import ConnectionWatch
from pipelinejobs.bus._rabbitmq_publisher import BROKER_ERRORS, ConfirmedPublisher
from pipelinejobs.bus._topology import DEFAULT_DELIVERY_LIMIT, QueueType, Topology
from pipelinejobs.bus.port import (
    BatchHandler,
    Bus,
    DeadLetter,
    Envelope,
    Handler,
    Subscription,
)
from pipelinejobs.domain.actors import ACTOR_ALIASES
from pipelinejobs.errors import BusUnavailable, Conflict, InvalidInput
from pipelinejobs.logs import process_logger, scrub

_log = process_logger(component="bus", adapter="rabbitmq")


class RabbitMQBus(Bus):
    """The bus on a RabbitMQ broker (3.10 or later for the default quorum queues)."""

    def __init__(
        self,
        url: str,
        *,
        partitions: int = 8,
        namespace: str = "pipelinejobs",
        actors: Sequence[str] = ACTOR_ALIASES,
        queue_type: QueueType = "quorum",
        delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
        publish_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        reconnect_interval: float = 2.0,
        balance_interval: float | None = 2.0,
    ) -> None:
        if not namespace or any(c.isspace() for c in namespace):
            raise InvalidInput(f"namespace: {namespace!r} must be non-empty without whitespace")
        if queue_type not in ("quorum", "classic"):
            raise InvalidInput(f"queue_type: {queue_type!r}; accepted: 'quorum', 'classic'")
        self.topology = Topology(
            namespace=namespace,
            partitions=check_partitions(partitions),
            actors=check_actors(actors),
            queue_type=queue_type,
            delivery_limit=delivery_limit,
        )
        self.connection_name = f"pipelinejobs {namespace} pid={os.getpid()} {uuid.uuid4().hex[:8]}"
        self._url = url
        self._publish_timeout = publish_timeout
        self._connect_timeout = connect_timeout
        self._reconnect_interval = reconnect_interval
        if balance_interval is not None and balance_interval <= 0:
            raise InvalidInput(
                f"balance_interval: {balance_interval!r}; expected seconds > 0, or None to "
                "leave every partition with its first subscriber"
            )
        self._balance_interval = balance_interval
        self._connection: AbstractRobustConnection | None = None
        self._publisher: ConfirmedPublisher | None = None
        self._subscriptions: list[RabbitSubscription] = []
        self._start_lock = asyncio.Lock()
        self._dead_letter_lock = asyncio.Lock()
        self._watch = ConnectionWatch(self.connection_name)

    @property
    def actors(self) -> tuple[str, ...]:
        return self.topology.actors

    async def start(self) -> None:
        async with self._start_lock:
            if self._connection is not None:
                return
            connection = await self._connect()
            try:
                self._publisher = await self._declare(connection)
            except BaseException:
                with contextlib.suppress(*BROKER_ERRORS):
                    await connection.close()
                raise
            self._connection = connection
            _log.info("bus started", namespace=self.topology.namespace)

    async def close(self) -> None:
        subscriptions, self._subscriptions = self._subscriptions, []
        await asyncio.gather(*(s.stop() for s in subscriptions))
        connection, self._connection, self._publisher = self._connection, None, None
        self._watch.stop()
        if connection is not None:
            with contextlib.suppress(*BROKER_ERRORS):
                await connection.close()

    async def ping(self) -> None:
        connection, publisher = self._connection, self._publisher
        if connection is None or publisher is None:
            raise BusUnavailable("the RabbitMQ bus is not started; call start() first")
        if connection.is_closed or not connection.connected.is_set():
            raise BusUnavailable(f"not connected to RabbitMQ at {scrub(self._url)} (reconnecting)")
        if publisher.channel.is_closed:
            raise BusUnavailable("the RabbitMQ publishing channel is closed (reopening)")

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        _, publisher = self._require_started()
        check_envelopes(envelopes, self.actors)
        if envelopes:
            await publisher.publish(envelopes)

    async def consume(
        self,
        actor: str,
        handler: Handler,
        *,
        prefetch: int = 16,
        batch: BatchHandler | None = None,
    ) -> Subscription:
        check_actor(actor, self.actors)
        check_prefetch(prefetch)
        connection, publisher = self._require_started()
        subscription = RabbitSubscription(
            actor,
            handler,
            prefetch=prefetch,
            balance_interval=self._balance_interval,
            batch=batch,
        )
        try:
            await subscription.open(connection, self.topology, publisher)
        except BaseException as exc:
            await subscription.stop(grace=0)
            if isinstance(exc, BROKER_ERRORS):
                raise BusUnavailable(f"cannot consume the queues of {actor!r}: {exc!r}") from exc
            raise
        self._subscriptions.append(subscription)
        return subscription

    async def dead_letters(self, actor: str, *, limit: int = 1000) -> list[DeadLetter]:
        """Read the oldest ``limit`` of the actor's dead letters, then give them back in order."""
        check_actor(actor, self.actors)
        connection, _ = self._require_started()
        async with self._dead_letter_lock:
            try:
                messages = await self._read_parked(connection, actor, limit)
            except BROKER_ERRORS as exc:
                raise BusUnavailable(f"cannot read the dead letters of {actor!r}: {exc!r}") from exc
        return [DeadLetter(_parked_envelope(m, actor), death_reason(m)) for m in messages]

    async def delete_topology(self) -> None:
        """Delete this namespace's queues (with their messages) and exchanges: for teardown."""
        try:
            connection = await aio_pika.connect(self._url, timeout=self._connect_timeout)
        except BROKER_ERRORS as exc:
            raise BusUnavailable(f"cannot connect to RabbitMQ at {scrub(self._url)}") from exc
        async with connection:
            channel = await connection.channel()
            for queue in self.topology.all_queues():
                await channel.queue_delete(queue)
            for exchange in self.topology.all_exchanges():
                await channel.exchange_delete(exchange)

    async def _connect(self) -> AbstractRobustConnection:
        try:
            connection = await aio_pika.connect_robust(
                self._url,
                timeout=self._connect_timeout,
                client_properties={"connection_name": self.connection_name},
                reconnect_interval=self._reconnect_interval,
            )
        except BROKER_ERRORS as exc:
            raise BusUnavailable(
                f"cannot connect to RabbitMQ at {scrub(self._url)}: {exc!r}"
            ) from exc
        self._watch.attach(connection)
        return connection

    async def _declare(self, connection: AbstractRobustConnection) -> ConfirmedPublisher:
        """Declare exchanges, partition and dead-letter queues; robust, so re-declared later."""
        topology = self.topology
        try:
            channel: Any = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchanges = {
                topology.messages_exchange: await channel.declare_exchange(
                    topology.messages_exchange, aio_pika.ExchangeType.DIRECT, durable=True
                ),
                topology.dead_letter_exchange: await channel.declare_exchange(
                    topology.dead_letter_exchange, aio_pika.ExchangeType.DIRECT, durable=True
                ),
            }
            for actor in topology.actors:
                parked = await channel.declare_queue(
                    topology.dead_letter_queue(actor),
                    durable=True,
                    arguments=topology.dead_letter_queue_arguments(),
                )
                await parked.bind(exchanges[topology.dead_letter_exchange], routing_key=actor)
                for k in range(topology.partitions):
                    queue = await channel.declare_queue(
                        topology.partition_queue(actor, k),
                        durable=True,
                        arguments=topology.partition_queue_arguments(actor),
                    )
                    await queue.bind(
                        exchanges[topology.messages_exchange],
                        routing_key=topology.routing_key(actor, k),
                    )
        except ChannelPreconditionFailed as exc:
            raise Conflict(
                f"RabbitMQ refused the topology of namespace {topology.namespace!r}: {exc}; "
                "an existing queue or exchange has other arguments (queue type, partitions "
                "settings): delete it or configure the same settings"
            ) from exc
        except BROKER_ERRORS as exc:
            raise BusUnavailable(f"cannot declare the RabbitMQ topology: {exc!r}") from exc
        return ConfirmedPublisher(channel, topology, exchanges, timeout=self._publish_timeout)

    async def _read_parked(
        self, connection: AbstractRobustConnection, actor: str, limit: int
    ) -> list[AbstractIncomingMessage]:
        channel = await connection.channel(publisher_confirms=False)
        try:
            queue = await channel.get_queue(self.topology.dead_letter_queue(actor), ensure=False)
            messages: list[AbstractIncomingMessage] = []
            while len(messages) < limit and (message := await queue.get(no_ack=False, fail=False)):
                messages.append(message)
            for message in messages:
                await message.reject(requeue=True)
            return messages
        finally:
            with contextlib.suppress(*BROKER_ERRORS):
                await channel.close()

    def _require_started(self) -> tuple[AbstractRobustConnection, ConfirmedPublisher]:
        if self._connection is None or self._publisher is None:
            raise BusUnavailable("the RabbitMQ bus is not started; call start() first")
        return self._connection, self._publisher


def _parked_envelope(message: AbstractIncomingMessage, actor: str) -> Envelope:
    """The dead letter's envelope; as much as can be read of one the bus did not write."""
    try:
        envelope, _ = from_message(message, actor)
    except InvalidInput:
        return Envelope(
            actor=actor,
            body=message.body,
            message_id=message.message_id or "",
            content_type=message.content_type or "application/octet-stream",
            message_type=message.type,
        )
    return envelope
