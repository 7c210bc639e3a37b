"""Confirmed, mandatory publishing to the namespace's exchanges: messages and dead letters.

Every publish waits for the broker's confirm; a batch is written in order and its confirms are
awaited together. A message the broker cannot route comes back (mandatory) and is an error,
never a silent drop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractMessage
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, PublishError

from pipelinejobs.bus._amqp_codec import DEATH_REASON_HEADER, to_message
from pipelinejobs.bus._envelopes import partition_for
from pipelinejobs.bus._topology import Topology
from pipelinejobs.bus.port import Envelope, UnknownActor
from pipelinejobs.errors import BusUnavailable

BROKER_ERRORS: tuple[type[BaseException], ...] = (*CONNECTION_EXCEPTIONS, TimeoutError)
_BROKER_DEATH_HEADERS = ("x-death", "x-first-death-", "x-last-death-", "x-delivery-count")


class ConfirmedPublisher:
    """Publishes on one confirm-mode channel, translating broker failures to ``BusUnavailable``."""

    def __init__(
        self,
        channel: AbstractChannel,
        topology: Topology,
        exchanges: dict[str, AbstractExchange],
        *,
        timeout: float,
    ) -> None:
        self._channel = channel
        self._topology = topology
        self._exchanges = exchanges
        self._timeout = timeout

    @property
    def channel(self) -> AbstractChannel:
        return self._channel

    def routing_key(self, envelope: Envelope) -> str:
        return self._topology.routing_key(
            envelope.actor, partition_for(envelope, self._topology.partitions)
        )

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        exchange = self._exchanges[self._topology.messages_exchange]
        sends = [
            (envelope, exchange.publish(to_message(envelope), self.routing_key(envelope)))
            for envelope in envelopes
        ]
        returned = await self._confirm([send for _, send in sends], what="messages")
        if returned:
            actor = envelopes[returned[0]].actor
            raise UnknownActor(actor, self._topology.actors)

    async def park(self, envelope: Envelope, attempt: int, reason: str) -> None:
        """Publish a copy of the envelope to the actor's dead-letter queue with the reason."""
        message = to_message(envelope, attempt=attempt, extra_headers={DEATH_REASON_HEADER: reason})
        await self._park(message, envelope.actor)

    async def park_raw(self, message: AbstractMessage, actor: str, reason: str) -> None:
        """Dead-letter a message the bus cannot read, as received (for an operator to inspect)."""
        headers: dict[str, Any] = {
            name: value
            for name, value in (message.headers or {}).items()
            if not name.startswith(_BROKER_DEATH_HEADERS)
        }
        headers[DEATH_REASON_HEADER] = reason
        copy = aio_pika.Message(
            body=message.body,
            headers=headers,
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            type=message.type,
            timestamp=message.timestamp,
            app_id=message.app_id,
        )
        await self._park(copy, actor)

    async def _park(self, message: AbstractMessage, actor: str) -> None:
        exchange = self._exchanges[self._topology.dead_letter_exchange]
        if await self._confirm([exchange.publish(message, actor)], what="dead letter"):
            raise BusUnavailable(
                f"RabbitMQ could not route a dead letter for actor {actor!r}: "
                f"queue {self._topology.dead_letter_queue(actor)} is missing"
            )

    async def _confirm(self, sends: Sequence[Awaitable[object]], what: str) -> list[int]:
        """Await every confirm; the indexes of returned (unroutable) messages, else raise."""
        try:
            async with asyncio.timeout(self._timeout):
                results = await asyncio.gather(*sends, return_exceptions=True)
        except TimeoutError as exc:
            raise BusUnavailable(
                f"RabbitMQ did not confirm {what} within {self._timeout:g} s"
            ) from exc
        returned = [i for i, r in enumerate(results) if isinstance(r, PublishError)]
        failures = [r for r in results if isinstance(r, BaseException)]
        if len(failures) > len(returned):
            failure = next(r for r in failures if not isinstance(r, PublishError))
            if not isinstance(failure, Exception):
                raise failure
            raise BusUnavailable(
                f"RabbitMQ did not confirm {len(failures)} of {len(results)} {what}: "
                f"{failure!r}; none may be assumed delivered"
            ) from failure
        return returned
