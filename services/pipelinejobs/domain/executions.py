"""Executions: every message an actor handles is one, as in Abaco.

The execution id is derived from the message id, so a redelivered message continues the same
execution instead of starting a second one, and the gateway can answer with the id before any
actor has seen the message.
"""

from __future__ import annotations

import enum
import hashlib
import time
from functools import lru_cache
from typing import Any

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
EXECUTION_ID_LENGTH = 13
ACCEPTED = "accepted"
"""Execution field set to ``False`` when the bus refused the message: nothing was accepted, so a
retry of the same message starts the execution afresh (:meth:`Store.submit_execution`)."""


class ExecutionStatus(enum.StrEnum):
    SUBMITTED = "SUBMITTED"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    ERROR = "ERROR"


@lru_cache(maxsize=1024)
def execution_id_for(message_id: str) -> str:
    """13 base-62 characters (Abaco's look) derived from the message id (remembered for the
    latest messages: one message's path asks for it more than once, e.g. its record and its
    bus header)."""
    number = int.from_bytes(hashlib.sha256(message_id.encode()).digest()[:10], "big")
    chars = []
    for _ in range(EXECUTION_ID_LENGTH):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def utc_now() -> str:
    """The timestamp format used in every stored document: ``2026-12-06T05:26:05.123Z``."""
    now = time.time()
    second = int(now)
    return f"{_utc_second(second)}.{int((now - second) * 1000):03d}Z"


def utc_now_precise() -> str:
    """The same to the microsecond (execution log lines): ``2026-12-06T05:26:05.123456Z``."""
    now = time.time()
    second = int(now)
    return f"{_utc_second(second)}.{int((now - second) * 1_000_000):06d}Z"


@lru_cache(maxsize=4)
def _utc_second(second: int) -> str:
    """The calendar part of a timestamp, formatted once per second rather than once per call
    (a handled event takes several timestamps; ``strftime`` was a visible share of its cost)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def new_execution(
    *, message_id: str, actor: str, sender: str | None, message_type: str | None = None
) -> dict[str, Any]:
    """A SUBMITTED execution record for a message about to be published."""
    return {
        "id": execution_id_for(message_id),
        "actor": actor,
        "message_id": message_id,
        "message_type": message_type,
        "sender": sender,
        "status": ExecutionStatus.SUBMITTED.value,
        "submitted": utc_now(),
        "started": None,
        "finished": None,
        "result": None,
        "error": None,
        "attempts": 0,
        "logs": [],
    }


def not_accepted(reason: str) -> dict[str, Any]:
    """The fields of an execution whose message the bus did not take: ERROR with ``reason``, and
    marked (:data:`ACCEPTED` ``False``) so that sending the message again starts it clean."""
    return {
        "status": ExecutionStatus.ERROR.value,
        "finished": utc_now(),
        "error": reason,
        ACCEPTED: False,
    }
