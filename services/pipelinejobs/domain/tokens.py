"""Update tokens (per document) and admin tokens (per time bucket), both HMAC-SHA256.

An update token is stable for the document's life, so a callback URL that embeds it keeps
working; several keys may be configured so a key can be rotated: the first signs, all verify.
Tokens are compared as the exact string (``CFADBAFCF37E0601`` is not ``cfadbafcf37e0601``), in
constant time (:func:`same_secret`), and no key or expected token ever appears in an error
message or a repr.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Sequence

from pipelinejobs.domain.identifiers import normalize_uuid
from pipelinejobs.errors import InvalidInput, Unauthorized

TOKEN_LENGTH = 16
MIN_KEY_LENGTH = 16


def _check_key(key: object, field: str) -> bytes:
    if not isinstance(key, bytes) or len(key) < MIN_KEY_LENGTH:
        raise InvalidInput(
            f"{field} must be bytes of at least {MIN_KEY_LENGTH} bytes "
            "(for example secrets.token_bytes(32))"
        )
    return key


def _sign(key: bytes, message: str) -> bytes:
    digest = hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:TOKEN_LENGTH].encode("ascii")


def _candidate(token: object) -> bytes | None:
    """A presented token as comparable bytes, exactly as sent (never case-folded), or None if
    it cannot be a token at all."""
    if not isinstance(token, str):
        return None
    return token.encode("utf-8", "surrogatepass")


def _matches_any(expected: Sequence[bytes], candidate: bytes) -> bool:
    """Compare against every expected token, never stopping early."""
    matched = False
    for token in expected:
        matched |= hmac.compare_digest(token, candidate)
    return matched


def same_secret(expected: str, presented: object) -> bool:
    """Whether ``presented`` is exactly ``expected`` (every character, case included), compared
    in constant time: the one comparison for every secret a caller presents (update and admin
    tokens, nonce ids, callback tokens)."""
    candidate = _candidate(presented)
    if candidate is None:
        return False
    return hmac.compare_digest(expected.encode("utf-8", "surrogatepass"), candidate)


class UpdateTokens:
    """Issues and checks the update token that authorizes changes to one document."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if isinstance(keys, bytes | str) or not isinstance(keys, Sequence) or len(keys) == 0:
            raise InvalidInput(
                "update token keys must be a non-empty list of byte strings "
                f"(for example [secrets.token_bytes(32)]); got a {type(keys).__name__}"
            )
        self._keys = tuple(
            _check_key(key, f"update token key #{index}") for index, key in enumerate(keys)
        )

    def __repr__(self) -> str:
        return f"UpdateTokens(<{len(self._keys)} keys hidden>)"

    def issue(self, document_uuid: str) -> str:
        """The token for ``document_uuid``, signed with the first (current) key."""
        return _sign(self._keys[0], normalize_uuid(document_uuid)).decode("ascii")

    def verify(self, document_uuid: str, token: str | None) -> bool:
        """Whether ``token`` was issued for ``document_uuid`` under any configured key."""
        candidate = _candidate(token)
        if candidate is None:
            return False
        subject = normalize_uuid(document_uuid)
        return _matches_any([_sign(key, subject) for key in self._keys], candidate)

    def require(self, document_uuid: str, token: str | None) -> None:
        """Raise ``Unauthorized`` unless ``token`` is the update token of ``document_uuid``."""
        if self.verify(document_uuid, token):
            return
        problem = "is missing" if token is None or token == "" else "is not valid"
        raise Unauthorized(
            f"update token for {normalize_uuid(document_uuid)} {problem}; send the "
            f"{TOKEN_LENGTH}-character token returned when the document was created"
        )


class AdminTokens:
    """Short-lived tokens for administrative events, derived from a key and a time bucket.

    A token is valid in the bucket it was issued in and the next one, so it lives between one
    and two ``lifetime`` periods. The clock is read by the caller and passed in as ``now``.
    """

    def __init__(self, key: bytes, lifetime: int = 30) -> None:
        self._key = _check_key(key, "admin token key")
        if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime <= 0:
            raise InvalidInput(
                f"admin token lifetime {lifetime!r} is not accepted; expected a positive "
                "number of seconds"
            )
        self.lifetime = lifetime

    def __repr__(self) -> str:
        return f"AdminTokens(<key hidden>, lifetime={self.lifetime})"

    def issue(self, now: float) -> str:
        """The admin token for the time bucket containing ``now`` (seconds since the epoch)."""
        return _sign(self._key, str(self._bucket(now))).decode("ascii")

    def verify(self, token: str | None, now: float) -> bool:
        """Whether ``token`` belongs to the current or the previous time bucket."""
        candidate = _candidate(token)
        if candidate is None:
            return False
        bucket = self._bucket(now)
        expected = [_sign(self._key, str(bucket)), _sign(self._key, str(bucket - 1))]
        return _matches_any(expected, candidate)

    def require(self, token: str | None, now: float) -> None:
        """Raise ``Unauthorized`` unless ``token`` is a current admin token."""
        if self.verify(token, now):
            return
        problem = "is missing" if token is None or token == "" else "is not valid or has expired"
        raise Unauthorized(
            f"admin token {problem}; this event needs a fresh admin token (`pipelinejobs "
            f"admin-token`), which stays valid for {self.lifetime} to {2 * self.lifetime} seconds"
        )

    def _bucket(self, now: float) -> int:
        if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
            raise InvalidInput(f"now {now!r} is not accepted; expected seconds since the epoch")
        return int(now // self.lifetime)
