"""Nonces with Abaco's semantics: an id in a URL that lets its holder use one actor.

A nonce is scoped to one actor, has a permission level (a POST of a message needs EXECUTE, a
GET needs READ), an atomic use counter (``maxUses``, -1 for unlimited) and an optional expiry.
A request with a nonce runs as the nonce's owner. The store counts the uses; this module creates
nonces and shows them in Abaco's field names.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from pipelinejobs.domain.executions import utc_now
from pipelinejobs.domain.nonces import NONCE_PREFIX, UNLIMITED, Level, level_of, nonce_record
from pipelinejobs.errors import InvalidInput
from pipelinejobs.gateway.tokens import check_user
from pipelinejobs.store.port import JSON, Store

MAX_USES = 2**31 - 1
"""The most uses a nonce may allow (a 32-bit count, as Abaco's; -1 is unlimited)."""
MAX_DESCRIPTION_LENGTH = 1000
MAX_EXPIRES_IN = 10 * 365 * 24 * 3600
MAX_NONCE_ID_LENGTH = 200


async def create_nonce(
    store: Store,
    actor: str,
    owner: str,
    level: str | int = Level.EXECUTE,
    max_uses: int = UNLIMITED,
    description: str = "",
    expires_in: float | None = None,
) -> JSON:
    """Create and store a nonce for ``actor`` (an alias) owned by ``owner``; return its public
    view (:func:`public_nonce`), whose ``id`` is the value for ``x-nonce``."""
    check_user(owner)
    granted = level_of(level)
    if (
        isinstance(max_uses, bool)
        or not isinstance(max_uses, int)
        or not (max_uses == UNLIMITED or 1 <= max_uses <= MAX_USES)
    ):
        raise InvalidInput(
            f"maxUses must be -1 (unlimited) or an integer from 1 to {MAX_USES}, "
            f"not {max_uses!r:.40}"
        )
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(
            f"description has {len(description)} characters; the limit is {MAX_DESCRIPTION_LENGTH}"
        )
    expires_at = None
    if expires_in is not None:
        if not 0 < expires_in <= MAX_EXPIRES_IN:
            raise InvalidInput(
                f"expiresIn must be a number of seconds between 1 and {MAX_EXPIRES_IN}, "
                f"not {expires_in!r}"
            )
        moment = datetime.now(UTC) + timedelta(seconds=expires_in)
        expires_at = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    nonce = nonce_record(
        nonce_id=NONCE_PREFIX + secrets.token_urlsafe(16),
        actor=actor,
        level=granted,
        max_uses=max_uses,
        owner=owner,
        description=description,
        create_time=utc_now(),
        expires_at=expires_at,
    )
    await store.save_nonce(nonce)
    return public_nonce(nonce)


def public_nonce(nonce: JSON) -> dict[str, Any]:
    """A stored nonce in Abaco's field names."""
    return {
        "id": nonce["id"],
        "actorId": nonce["actor"],
        "level": Level(int(nonce["level"])).name,
        "maxUses": nonce["max_uses"],
        "remainingUses": nonce["remaining_uses"],
        "currentUses": nonce["current_uses"],
        "createTime": nonce.get("create_time"),
        "lastUseTime": nonce.get("last_use_time"),
        "expiresAt": nonce.get("expires_at"),
        "owner": nonce.get("owner"),
        "description": nonce.get("description") or "",
    }


def plausible_nonce_id(value: str) -> bool:
    """Cheap shape check before the store is asked (a nonce id is short and printable)."""
    return 0 < len(value) <= MAX_NONCE_ID_LENGTH and value.isprintable()
