"""Nonce rules with Abaco's semantics, shared by every adapter.

The adapters make the use counter atomic; deciding whether a nonce may be used at all (and saying
why not) is the same on every backend, so it lives here once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pipelinejobs.domain.nonces import UNLIMITED as UNLIMITED  # the adapters count with it
from pipelinejobs.domain.nonces import Level
from pipelinejobs.domain.tokens import same_secret
from pipelinejobs.errors import InvalidInput, NonceRejected
from pipelinejobs.store._records import check_record_fields, require_text
from pipelinejobs.store.port import JSON

MAX_COUNT = 2**63 - 1
"""The largest use count every backend stores as an integer (BSON's int64)."""


def check_nonce(nonce: Mapping[str, Any]) -> str:
    """Return the nonce id of a record that redemption can work with."""
    check_record_fields(nonce, "nonce")
    nonce_id = require_text(nonce, "id", "nonce")
    require_text(nonce, "actor", "nonce")
    _level(nonce.get("level"), "nonce field 'level'")
    for field, lowest in (("max_uses", UNLIMITED), ("remaining_uses", UNLIMITED)):
        _count(nonce.get(field), f"nonce field {field!r}", lowest)
    _count(nonce.get("current_uses"), "nonce field 'current_uses'", 0)
    expires_at = nonce.get("expires_at")
    if expires_at is not None:
        _instant(expires_at, "nonce field 'expires_at'")
    return nonce_id


def check_redeemable(
    nonce_id: str, nonce: Mapping[str, Any] | None, *, actor: str, level: int, now: str
) -> JSON:
    """Return the nonce when ``actor`` may use it once at ``level`` now; else say why not."""
    wanted = _level(level, "requested level")
    if nonce is None or not same_secret(str(nonce.get("id", "")), nonce_id):
        # The exact id, compared in constant time, whatever the backend's key collation.
        raise NonceRejected("the nonce does not exist")
    if nonce.get("actor") != actor:
        raise NonceRejected(f"the nonce belongs to another actor, not {actor}")
    held = Level(int(nonce["level"]))
    if held < wanted:
        raise NonceRejected(
            f"the nonce has level {held.name} ({int(held)}); this request needs "
            f"{wanted.name} ({int(wanted)}) or higher"
        )
    expires_at = nonce.get("expires_at")
    if expires_at is not None and _instant(now, "now") >= _instant(expires_at, "expires_at"):
        raise NonceRejected(f"the nonce expired at {expires_at}")
    if nonce.get("remaining_uses") == 0:
        raise NonceRejected(f"the nonce has no remaining uses (max_uses {nonce.get('max_uses')})")
    return dict(nonce)


def used_once(nonce: Mapping[str, Any], now: str) -> JSON:
    """The nonce after one use: one more use counted, one fewer left unless unlimited."""
    remaining = int(nonce["remaining_uses"])
    return {
        **nonce,
        "current_uses": int(nonce["current_uses"]) + 1,
        "remaining_uses": remaining if remaining == UNLIMITED else remaining - 1,
        "last_use_time": now,
    }


def refunded_once(nonce: Mapping[str, Any], actor: str) -> JSON | None:
    """The nonce with one counted use given back, or None when it has none to give back."""
    if nonce.get("actor") != actor:
        return None
    current, remaining = int(nonce["current_uses"]), int(nonce["remaining_uses"])
    if current < 1 or (remaining != UNLIMITED and remaining >= int(nonce["max_uses"])):
        return None
    return {
        **nonce,
        "current_uses": current - 1,
        "remaining_uses": remaining if remaining == UNLIMITED else remaining + 1,
    }


def _count(value: object, what: str, lowest: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and lowest <= value <= MAX_COUNT:
        return value
    raise InvalidInput(f"{what} must be an integer from {lowest} to {MAX_COUNT}, not {value!r}")


def _level(value: object, what: str) -> Level:
    if isinstance(value, int) and not isinstance(value, bool) and value in set(Level):
        return Level(value)
    accepted = ", ".join(f"{int(level)} ({level.name})" for level in Level)
    raise InvalidInput(f"{what} {value!r} is not a permission level; accepted: {accepted}")


def _instant(value: object, what: str) -> datetime:
    """An ISO-8601 timestamp as an aware datetime (naive means UTC)."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise InvalidInput(f"{what} {value!r} is not an ISO-8601 timestamp")
