"""The one settlement each delivery allows, and the pause before an unsettled one is redelivered."""

from __future__ import annotations

from enum import Enum
from typing import Any

from pipelinejobs.bus.port import Envelope
from pipelinejobs.errors import Conflict

REDELIVERY_FIRST_DELAY = 0.05
REDELIVERY_MAX_DELAY = 5.0


class DeliveryAlreadySettled(Conflict):
    """A handler settled the same delivery twice (ack, retry_later or dead_letter)."""


class _State(Enum):
    OPEN = "open"
    SETTLING = "settling"
    SETTLED = "settled"


class Settlement:
    """Tracks whether a delivery was settled; a failed settlement leaves it open for redelivery."""

    def __init__(self, message_id: str) -> None:
        self._message_id = message_id
        self._state = _State.OPEN
        self._how = ""

    @property
    def settled(self) -> bool:
        return self._state is _State.SETTLED

    def begin(self, how: str) -> None:
        """Claim the settlement; a second claim (even while the first runs) is refused."""
        if self._state is not _State.OPEN:
            raise DeliveryAlreadySettled(
                f"delivery of message {self._message_id!r} is already settled by {self._how}; "
                f"{how} is not allowed (settle a delivery exactly once)"
            )
        self._state = _State.SETTLING
        self._how = how

    def fail(self) -> None:
        """The settlement did not happen: the delivery is open again (and will be redelivered)."""
        self._state = _State.OPEN
        self._how = ""

    def done(self) -> None:
        self._state = _State.SETTLED


def retry_in_place(
    settlement: Settlement, envelope: Envelope, attempt: int, delay: float, reason: str, log: Any
) -> float:
    """Settle a delivery by ``retry_later``; return the pause after which the adapter hands
    the same envelope over again, in its place (so a retry never reorders its key)."""
    settlement.begin("retry_later")
    pause = max(0.0, delay)
    settlement.done()
    log.info(
        "delivery retried in place",
        actor=envelope.actor,
        message_id=envelope.message_id,
        attempt=attempt,
        delay=delay,
        reason=reason,
    )
    return pause


def redelivery_delay(failures: int) -> float:
    """Exponential pause before requeueing a delivery its handler left unsettled.

    The failed message keeps its partition blocked (order), so the pause spares the broker and
    the store a hot loop while, e.g., the store is down.
    """
    if failures < 1:
        return 0.0
    return float(min(REDELIVERY_FIRST_DELAY * 2 ** (failures - 1), REDELIVERY_MAX_DELAY))
