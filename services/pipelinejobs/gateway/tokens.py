"""Bearer tokens: JWTs the system issues itself (HS256) or an OIDC provider's (RS256 via JWKS).

PyJWT checks signatures and claims; we only choose the key from the token's declared algorithm,
and each key is used with its own algorithm alone, so a token cannot make one key verify under
another algorithm. ``alg: none`` and any algorithm not configured are refused.

A client sends the same token with every request (a compute service's webhooks, a script's
loop), and checking its HMAC and claims again each time was a tenth of a webhook's cost in the
gateway. So an HS256 token, once verified, is remembered with the claims it carries until it
expires: the key is the system's own and never changes while it runs, and a token that passed
keeps passing until its ``exp`` (plus the leeway), so the answer is the same, refusal included.
OIDC tokens (RS256) are verified every time: their keys may be rotated out at the provider.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from pipelinejobs.domain.senders import UNOWNED
from pipelinejobs.errors import InvalidInput, TransientError, Unauthorized
from pipelinejobs.gateway.config import GatewaySettings

ISSUER = "pipelinejobs"
HS_ALGORITHM = "HS256"
DEFAULT_TOKEN_TTL = 12 * 3600
MAX_USER_LENGTH = 200
ADMIN_ROLE = "admin"
LEEWAY_SECONDS = 30
"""How far past its ``exp`` a token is still accepted (clocks of issuers and gateway differ)."""
REMEMBERED_TOKENS = 1024
"""How many verified HS256 tokens are remembered (the oldest is forgotten first)."""
_ISSUE_HINT = "get one with `pipelinejobs token issue --user NAME`"
_EXPIRED = f"the Bearer token has expired; {_ISSUE_HINT}"


class IdentityProviderUnavailable(TransientError):
    """The OIDC provider's keys cannot be fetched now; the caller may retry."""


@dataclass(frozen=True)
class Claims:
    """Who a verified token speaks for."""

    user: str
    roles: frozenset[str]


@dataclass(frozen=True)
class _Verified:
    """A verified token's claims, and the time (epoch seconds) from which it is refused."""

    claims: Claims
    refused_from: float


def issue_token(
    secret: bytes,
    user: str,
    *,
    roles: Sequence[str] = (),
    ttl: float = DEFAULT_TOKEN_TTL,
    now: float | None = None,
) -> str:
    """An HS256 JWT for ``user`` that this system's gateway accepts for ``ttl`` seconds."""
    check_user(user)
    if ttl <= 0:
        raise InvalidInput(f"ttl must be a positive number of seconds, not {ttl}")
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": ISSUER,
        "sub": user,
        "iat": issued,
        "exp": issued + int(ttl),
        "roles": sorted(set(roles)),
    }
    return jwt.encode(claims, secret, algorithm=HS_ALGORITHM)


def check_user(user: object) -> str:
    if (
        not isinstance(user, str)
        or not user.strip()
        or len(user) > MAX_USER_LENGTH
        or user == UNOWNED
    ):
        raise InvalidInput(
            f"user must be a non-empty name of at most {MAX_USER_LENGTH} characters, other "
            f"than {UNOWNED!r} (the name of unowned nonces), not {user!r:.60}"
        )
    return user


class TokenVerifier:
    """Verifies Bearer tokens: HS256 with the system's key, RS256 with the OIDC provider's."""

    def __init__(
        self,
        secret: bytes,
        settings: GatewaySettings,
        *,
        jwks_client: jwt.PyJWKClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._settings = settings
        self._clock = clock
        self._verified: dict[bytes, _Verified] = {}
        """Verified tokens by the SHA-256 of their text: a lookup never compares a secret."""
        if jwks_client is None and settings.oidc_jwks_url is not None:
            jwks_client = jwt.PyJWKClient(
                settings.oidc_jwks_url,
                cache_keys=True,
                lifespan=settings.jwks_cache_seconds,
                timeout=10,
            )
        self._jwks = jwks_client

    async def verify(self, token: str) -> Claims:
        """The token's claims; ``Unauthorized`` saying why when it is not acceptable."""
        digest = _digest(token)
        remembered = self._verified.get(digest)
        if remembered is not None:
            if self._clock() < remembered.refused_from:
                return remembered.claims
            del self._verified[digest]
            raise Unauthorized(_EXPIRED)
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            raise Unauthorized(f"the Bearer token is not a JWT; {_ISSUE_HINT}") from None
        if algorithm == HS_ALGORITHM:
            decoded = self._decode(token, self._secret, HS_ALGORITHM, ISSUER, None)
            verified = self._claims(decoded, "sub")
            self._remember(token, verified, decoded["exp"])
            return verified
        if self._jwks is not None and algorithm in self._settings.oidc_algorithms:
            key = await self._signing_key(token)
            claims = self._decode(
                token,
                key,
                str(algorithm),
                self._settings.oidc_issuer or "",
                self._settings.oidc_audience,
            )
            return self._claims(claims, self._settings.oidc_user_claim)
        accepted = [HS_ALGORITHM, *(self._settings.oidc_algorithms if self._jwks else [])]
        raise Unauthorized(
            f"the Bearer token is signed with {algorithm!r:.20}; this gateway accepts "
            f"{', '.join(accepted)}"
        )

    def _remember(self, token: str, claims: Claims, expiry: Any) -> None:
        """Keep a verified HS256 token's claims until it expires (PyJWT refuses it once
        ``int(exp) <= now - leeway``); the oldest one is forgotten when too many are kept."""
        if len(self._verified) >= REMEMBERED_TOKENS:
            del self._verified[next(iter(self._verified))]
        self._verified[_digest(token)] = _Verified(claims, int(expiry) + LEEWAY_SECONDS)

    async def _signing_key(self, token: str) -> Any:
        assert self._jwks is not None
        try:
            signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientConnectionError as exc:
            raise IdentityProviderUnavailable(
                f"the identity provider's keys cannot be fetched now ({exc}); retry later"
            ) from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(
                f"the Bearer token's signing key is not among the identity provider's: {exc}"
            ) from None
        return signing_key.key

    @staticmethod
    def _decode(
        token: str, key: Any, algorithm: str, issuer: str, audience: str | None
    ) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=issuer,
                audience=audience,
                options={"require": ["exp", "iss"], "verify_aud": audience is not None},
                leeway=LEEWAY_SECONDS,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized(_EXPIRED) from None
        except jwt.InvalidIssuerError:
            raise Unauthorized(f"the Bearer token is not issued by {issuer!r}") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized(f"the Bearer token is not meant for audience {audience!r}") from None
        except jwt.InvalidSignatureError:
            raise Unauthorized(
                f"the Bearer token's signature does not verify; {_ISSUE_HINT}"
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"the Bearer token lacks the {exc.claim!r} claim") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"the Bearer token is not valid: {exc}") from None

    @staticmethod
    def _claims(claims: Mapping[str, Any], user_claim: str) -> Claims:
        user = claims.get(user_claim)
        if not isinstance(user, str) or not user or len(user) > MAX_USER_LENGTH or user == UNOWNED:
            raise Unauthorized(f"the Bearer token's {user_claim!r} claim must name a user")
        return Claims(user=user, roles=_roles(claims))


def _roles(claims: Mapping[str, Any]) -> frozenset[str]:
    """Roles from ``roles``, or Keycloak's ``realm_access.roles``."""
    roles = claims.get("roles")
    if roles is None and isinstance(claims.get("realm_access"), Mapping):
        roles = claims["realm_access"].get("roles")
    if isinstance(roles, str):
        roles = [roles]
    if not isinstance(roles, list):
        return frozenset()
    return frozenset(role for role in roles if isinstance(role, str))


def _digest(token: str) -> bytes:
    """What remembers a token: its SHA-256, so that finding it in the cache compares digests
    (which tell an attacker nothing about a token's bytes), never the token itself."""
    return hashlib.sha256(token.encode()).digest()
