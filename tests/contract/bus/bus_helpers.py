"""Helpers for the bus contract suite: envelopes, and a handler that records what it saw."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pipelinejobs.bus.port import Delivery, Envelope

HANG_GUARD = 30.0
"""Seconds before a wait is declared hung: a failure guard, never a speed assertion."""


def envelope(
    actor: str = "alpha", *, key: str | None = None, body: bytes = b"{}", **fields: object
) -> Envelope:
    return Envelope(
        actor=actor,
        body=body,
        message_id=str(fields.pop("message_id", uuid.uuid4())),
        partition_key=key,
        **fields,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class Seen:
    envelope: Envelope
    attempt: int
    redelivered: bool


class Recorder:
    """Records every delivery handed to it, then lets ``react`` settle it (ack by default)."""

    def __init__(self, react: Callable[[Delivery], Awaitable[None]] | None = None) -> None:
        self.seen: list[Seen] = []
        self.settled: list[Seen] = []
        self._react = react
        self._changed = asyncio.Event()

    async def __call__(self, delivery: Delivery) -> None:
        seen = Seen(delivery.envelope, delivery.attempt, delivery.redelivered)
        self.seen.append(seen)
        self._changed.set()
        if self._react is None:
            await delivery.ack()
        else:
            await self._react(delivery)
        self.settled.append(seen)
        self._changed.set()

    def ids(self) -> list[str]:
        return [s.envelope.message_id for s in self.seen]

    def settled_ids(self) -> list[str]:
        return [s.envelope.message_id for s in self.settled]

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(HANG_GUARD):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    async def wait_settled(self, message_id: str) -> None:
        await self.wait_until(lambda: message_id in self.settled_ids())
