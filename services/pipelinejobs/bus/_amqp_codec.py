"""Envelopes to AMQP messages and back, with every field the bus contract preserves.

``message_id``, ``content_type`` and ``type`` (the message type) are AMQP properties; the
partition key, the context (one JSON object) and the attempt travel as ``pipelinejobs-*``
headers beside the envelope's own headers. Messages are persistent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aio_pika
from aio_pika.abc import AbstractMessage

from pipelinejobs.bus.port import JSON_CONTENT_TYPE, Envelope
from pipelinejobs.errors import InvalidInput

PARTITION_KEY_HEADER = "pipelinejobs-partition-key"
CONTEXT_HEADER = "pipelinejobs-context"
ATTEMPT_HEADER = "pipelinejobs-attempt"
DEATH_REASON_HEADER = "x-death-reason"
_BUS_HEADER_PREFIXES = ("x-", "pipelinejobs-")
_BROKER_ONLY_HEADERS = ("CC", "BCC")


def to_message(
    envelope: Envelope, *, attempt: int = 1, extra_headers: Mapping[str, str] | None = None
) -> aio_pika.Message:
    headers: dict[str, Any] = dict(envelope.headers)
    if envelope.partition_key is not None:
        headers[PARTITION_KEY_HEADER] = envelope.partition_key
    if envelope.context:
        headers[CONTEXT_HEADER] = json.dumps(dict(envelope.context), separators=(",", ":"))
    headers[ATTEMPT_HEADER] = str(attempt)
    headers |= dict(extra_headers or {})
    return aio_pika.Message(
        body=envelope.body,
        message_id=envelope.message_id,
        content_type=envelope.content_type,
        type=envelope.message_type,
        headers=headers,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


def from_message(message: AbstractMessage, actor: str) -> tuple[Envelope, int]:
    """The envelope and its attempt; ``InvalidInput`` for a message the bus did not write."""
    if not message.message_id:
        raise InvalidInput("message_id: the AMQP message has none; every message needs one")
    headers = message.headers or {}
    envelope = Envelope(
        actor=actor,
        body=message.body,
        message_id=message.message_id,
        content_type=message.content_type or JSON_CONTENT_TYPE,
        message_type=message.type,
        partition_key=_text(headers.get(PARTITION_KEY_HEADER)),
        context=_context(headers.get(CONTEXT_HEADER)),
        headers={
            name: text
            for name, value in headers.items()
            if not name.startswith(_BUS_HEADER_PREFIXES) and name not in _BROKER_ONLY_HEADERS
            if (text := _text(value)) is not None
        },
    )
    return envelope, _attempt(headers.get(ATTEMPT_HEADER))


def death_reason(message: AbstractMessage) -> str:
    """Why a message is in a dead-letter queue: ours, or the broker's own (x-death)."""
    headers = message.headers or {}
    reason = _text(headers.get(DEATH_REASON_HEADER))
    if reason:
        return reason
    deaths = headers.get("x-death")
    if isinstance(deaths, list | tuple) and deaths and isinstance(deaths[0], Mapping):
        cause = _text(deaths[0].get("reason")) or "unknown"
        queue = _text(deaths[0].get("queue")) or "its queue"
        return f"dead-lettered by the broker from {queue}: {cause}"
    return "dead-lettered without a reason"


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _context(value: object) -> dict[str, str]:
    text = _text(value)
    if not text:
        return {}
    try:
        decoded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{CONTEXT_HEADER}: not JSON ({exc.msg}); expected an object") from exc
    if not isinstance(decoded, dict):
        raise InvalidInput(f"{CONTEXT_HEADER}: expected a JSON object of strings")
    return {str(k): str(v) for k, v in decoded.items()}


def _attempt(value: object) -> int:
    text = _text(value)
    if text is None:
        return 1
    try:
        return max(1, int(text))
    except ValueError as exc:
        raise InvalidInput(f"{ATTEMPT_HEADER}: {text!r} is not a positive integer") from exc
