"""The nonce vocabulary, with Abaco's semantics: permission levels, uses, ids and the record.

A nonce is an id in a URL that lets its holder use one actor up to a permission level, a number
of times (``UNLIMITED`` for no limit) until an optional expiry. The gateway mints nonces for
users, the agave-proxy mints the one that authorizes a job's compute-service callbacks, and
every store adapter redeems them: all three speak of the same record, spelled here once.
"""

from __future__ import annotations

import enum
from typing import Any

from pipelinejobs.errors import InvalidInput

NONCE_PREFIX = "PJ_"
"""How every nonce id this system mints begins (user nonces and callback nonces alike)."""
UNLIMITED = -1
"""``max_uses`` (and ``remaining_uses``) of a nonce that may be used without limit."""


class Level(enum.IntEnum):
    """Abaco's permission levels; a nonce allows requests up to its own level."""

    NONE = 0
    READ = 1
    EXECUTE = 2
    UPDATE = 3


def level_of(value: str | int) -> Level:
    """``"EXECUTE"``, ``"execute"`` or ``2`` as a :class:`Level`."""
    try:
        if isinstance(value, str) and not value.isdigit():
            return Level[value.strip().upper()]
        return Level(int(value))
    except (KeyError, ValueError):
        accepted = ", ".join(level.name for level in Level)
        raise InvalidInput(
            f"level {value!r:.40} is not a permission level; accepted: {accepted}"
        ) from None


def nonce_record(
    *,
    nonce_id: str,
    actor: str,
    level: Level,
    max_uses: int,
    owner: str | None,
    description: str,
    create_time: str,
    expires_at: str | None = None,
) -> dict[str, Any]:
    """A new, unused nonce as every store keeps it (the gateway shows it in Abaco's names)."""
    return {
        "id": nonce_id,
        "actor": actor,
        "level": int(level),
        "max_uses": max_uses,
        "remaining_uses": max_uses,
        "current_uses": 0,
        "expires_at": expires_at,
        "owner": owner,
        "description": description,
        "create_time": create_time,
        "last_use_time": None,
    }
