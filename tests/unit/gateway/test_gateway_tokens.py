"""HS256 tokens the system issues: what they carry and every reason one is refused."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from pipelinejobs.domain.senders import UNOWNED
from pipelinejobs.errors import InvalidInput, Unauthorized
from pipelinejobs.gateway import GatewaySettings, issue_token
from pipelinejobs.gateway.tokens import (
    ISSUER,
    LEEWAY_SECONDS,
    REMEMBERED_TOKENS,
    Claims,
    TokenVerifier,
)

SECRET = b"k" * 32


def verifier() -> TokenVerifier:
    return TokenVerifier(SECRET, GatewaySettings())


async def test_issued_token_names_the_user_and_roles() -> None:
    token = issue_token(SECRET, "alice", roles=["admin", "admin", "ops"], ttl=60)

    claims = await verifier().verify(token)

    assert claims.user == "alice"
    assert claims.roles == {"admin", "ops"}
    decoded = jwt.decode(token, SECRET, algorithms=["HS256"], issuer=ISSUER)
    assert decoded["exp"] - decoded["iat"] == 60


@pytest.mark.parametrize("user", ["", "   ", "x" * 201, UNOWNED])
def test_issuing_refuses_a_blank_or_long_user(user: str) -> None:
    with pytest.raises(InvalidInput, match="user"):
        issue_token(SECRET, user)


def test_issuing_refuses_a_non_positive_ttl() -> None:
    with pytest.raises(InvalidInput, match="ttl"):
        issue_token(SECRET, "alice", ttl=0)


async def test_unsigned_tokens_are_refused() -> None:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"iss": ISSUER, "sub": "mallory", "roles": ["admin"], "exp": time.time() + 60}
    unsigned = f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."

    with pytest.raises(Unauthorized, match="'none'"):
        await verifier().verify(unsigned)


@pytest.mark.parametrize(
    ("claims", "needle"),
    [
        ({"iss": "someone-else", "sub": "alice"}, "not issued by"),
        ({"iss": ISSUER}, "'sub' claim"),
        ({"iss": ISSUER, "sub": 7}, "not valid"),
        ({"sub": "alice"}, "'iss'"),
        ({"iss": ISSUER, "sub": UNOWNED}, "'sub' claim must name a user"),
    ],
)
async def test_tokens_with_wrong_claims_are_refused(claims: dict[str, object], needle: str) -> None:
    token = jwt.encode(claims | {"exp": int(time.time()) + 60}, SECRET, algorithm="HS256")

    with pytest.raises(Unauthorized, match=needle):
        await verifier().verify(token)


async def test_a_token_without_expiry_is_refused() -> None:
    token = jwt.encode({"iss": ISSUER, "sub": "alice"}, SECRET, algorithm="HS256")

    with pytest.raises(Unauthorized, match="'exp'"):
        await verifier().verify(token)


async def test_expired_and_foreign_tokens_are_refused() -> None:
    expired = issue_token(SECRET, "alice", ttl=10, now=time.time() - 3600)
    foreign = issue_token(b"another system's key, 32 bytes!!", "alice")

    with pytest.raises(Unauthorized, match="expired"):
        await verifier().verify(expired)
    with pytest.raises(Unauthorized, match="signature"):
        await verifier().verify(foreign)


async def test_hs384_is_not_accepted() -> None:
    token = jwt.encode(
        {"iss": ISSUER, "sub": "alice", "exp": int(time.time()) + 60},
        SECRET + SECRET,
        algorithm="HS384",
    )

    with pytest.raises(Unauthorized, match="HS384"):
        await verifier().verify(token)


async def test_an_accepted_token_is_refused_once_it_expires() -> None:
    now = time.time()
    clock = [now]
    checking = TokenVerifier(SECRET, GatewaySettings(), clock=lambda: clock[0])
    token = issue_token(SECRET, "alice", roles=["ops"], ttl=60, now=now)

    first = await checking.verify(token)
    clock[0] = now + 60 + LEEWAY_SECONDS - 1
    again = await checking.verify(token)
    clock[0] = now + 60 + LEEWAY_SECONDS + 1

    assert first == again == Claims(user="alice", roles=frozenset({"ops"}))
    with pytest.raises(Unauthorized, match="has expired"):
        await checking.verify(token)


async def test_tokens_beyond_those_remembered_are_still_verified() -> None:
    checking = verifier()
    tokens = [issue_token(SECRET, f"user{n}", ttl=60) for n in range(REMEMBERED_TOKENS + 2)]

    users = [(await checking.verify(token)).user for token in tokens]
    first_again = await checking.verify(tokens[0])

    assert users == [f"user{n}" for n in range(REMEMBERED_TOKENS + 2)]
    assert first_again.user == "user0"
    with pytest.raises(Unauthorized, match="signature"):
        await checking.verify(tokens[0][:-2] + ("AA" if not tokens[0].endswith("AA") else "BB"))
