"""Waiting for what a system settles after an execution's outcome is recorded.

A refused message is recorded ERROR first, then dead-lettered (in that order, so a crash between
the two leaves the message to be redelivered, never a dead letter with a running execution): a
test that saw the ERROR waits for the dead letter before reading it.
"""

from __future__ import annotations

import asyncio
import time

from pipelinejobs.bus.port import Bus, DeadLetter


async def dead_letters(
    bus: Bus, actor: str, *, at_least: int = 1, within: float = 10.0
) -> list[DeadLetter]:
    """The actor's dead letters once there are ``at_least``; ``TimeoutError`` after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        letters = await bus.dead_letters(actor)
        if len(letters) >= at_least:
            return letters
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{len(letters)} dead letters of {actor} after {within} s, expected {at_least}"
            )
        await asyncio.sleep(0.02)
