"""Who consumes an actor right now, learned from presence beats the consumers send each other.

Single active consumer makes the *first* subscriber of a partition queue its consumer, so
without more, the first process to start would handle every partition and its replicas would
only wait. Each subscription therefore announces itself every ``interval`` seconds on the
actor's fanout exchange ``<ns>.<actor>.members`` and hears the others on an exclusive queue of
its own. From the live members (heard from within three intervals) every member computes the
same balanced assignment (``_assignment.assign``); a consumer that finds itself active on a
partition another live member owns steps aside (see ``_rabbitmq_consumer``).

The beats are hints, not locks: order and exclusivity always come from single active consumer,
so members that disagree for a moment cost a hand-over, never a message out of order. Until a
member has listened for a full ``interval`` it claims to know nobody (``owner`` is None) and
keeps what the broker gave it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from pipelinejobs.bus._assignment import assign
from pipelinejobs.bus._rabbitmq_publisher import BROKER_ERRORS
from pipelinejobs.bus._topology import Topology
from pipelinejobs.logs import process_logger

_log = process_logger(component="bus", adapter="rabbitmq")
EXPIRY_INTERVALS = 3
"""A member unheard for this many intervals is gone (its own process may have died)."""


class Membership:
    """The live members of one actor's consumer group, as this member hears them."""

    def __init__(self, topology: Topology, actor: str, member: str, *, interval: float) -> None:
        if interval <= 0:
            raise ValueError(f"interval: {interval} must be positive (seconds between beats)")
        self.topology = topology
        self.actor = actor
        self.member = member
        self.interval = interval
        self._heard: dict[str, float] = {}
        self._listening_since: float | None = None
        self._channel: Any = None
        self._exchange: Any = None
        self._beats: asyncio.Task[None] | None = None
        self._cache: tuple[frozenset[str], list[str]] | None = None

    async def open(self, connection: AbstractRobustConnection) -> None:
        """Listen for the others and start announcing this member."""
        channel: Any = await connection.channel(publisher_confirms=False)
        self._channel = channel
        self._exchange = await channel.declare_exchange(
            self.topology.members_exchange(self.actor), aio_pika.ExchangeType.FANOUT, durable=True
        )
        queue = await channel.declare_queue(
            self.topology.member_queue(self.actor, self.member),
            exclusive=True,
            auto_delete=True,
            arguments={"x-queue-type": "classic"},
        )
        await queue.bind(self._exchange)
        await queue.consume(self._hear, no_ack=True)
        self._listening_since = time.monotonic()
        self._beats = asyncio.create_task(self._beat(), name=f"bus-members-{self.actor}")

    async def close(self) -> None:
        """Say goodbye (so the others rebalance at once), then stop listening."""
        if self._beats is not None:
            self._beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beats
        with contextlib.suppress(*BROKER_ERRORS):
            await self._announce(leaving=True)
        if self._channel is not None:
            with contextlib.suppress(*BROKER_ERRORS):
                await self._channel.close()

    def owner(self, partition: int) -> str | None:
        """The member that should consume ``partition``; None while still listening."""
        now = time.monotonic()
        if self._listening_since is None or now - self._listening_since < self.interval:
            return None
        horizon = now - EXPIRY_INTERVALS * self.interval
        live = frozenset({m for m, at in self._heard.items() if at >= horizon} | {self.member})
        if self._cache is None or self._cache[0] != live:
            self._cache = (live, assign(self.topology.partitions, live))
        return self._cache[1][partition]

    async def _beat(self) -> None:
        while True:
            try:
                await self._announce(leaving=False)
            except BROKER_ERRORS as exc:  # reconnecting: the next beat will do
                _log.debug("presence beat not sent", actor=self.actor, error=repr(exc))
            await asyncio.sleep(self.interval)

    async def _announce(self, *, leaving: bool) -> None:
        if self._exchange is None:
            return
        body = json.dumps({"member": self.member, "leaving": leaving}).encode()
        expiry_ms = int(EXPIRY_INTERVALS * self.interval * 1000)
        message = aio_pika.Message(
            body, expiration=expiry_ms / 1000, content_type="application/json"
        )
        await self._exchange.publish(message, routing_key="")

    async def _hear(self, message: AbstractIncomingMessage) -> None:
        try:
            beat = json.loads(message.body)
            member, leaving = str(beat["member"]), bool(beat.get("leaving"))
        except (ValueError, KeyError, TypeError):
            _log.warning("unreadable presence beat ignored", actor=self.actor)
            return
        if member == self.member:
            return
        if leaving:
            self._heard.pop(member, None)
        else:
            self._heard[member] = time.monotonic()
