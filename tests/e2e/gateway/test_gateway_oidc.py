"""RS256 Bearer tokens from an OIDC provider, verified with its JWKS served over local HTTP."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from gateway_harness import Recorder, ServeGateway, assert_problem
from oidc_provider import AUDIENCE, ISSUER, KID, Provider
from pipelinejobs.errors import TransientError, Unauthorized
from pipelinejobs.gateway import GatewaySettings
from pipelinejobs.gateway.tokens import TokenVerifier


async def test_gateway_accepts_the_providers_tokens(
    provider: Provider, make_system: Any, serve_gateway: ServeGateway
) -> None:
    system = await make_system(actors=[Recorder()])
    served = await serve_gateway(system, provider.settings())

    accepted = await served.client.post(
        f"/actors/v2/{Recorder.alias}/messages",
        json={"via": "oidc"},
        headers={"Authorization": f"Bearer {provider.token()}"},
    )
    wrong_audience = await served.client.get(
        "/jobs", headers={"Authorization": f"Bearer {provider.token(aud='other')}"}
    )
    own_tokens_still_work = await served.client.get("/jobs", headers=served.bearer())

    assert (await served.wait_reply(accepted))["sender"] == "user:alice"
    assert_problem(wrong_audience, 401, "audience")
    assert own_tokens_still_work.status_code == 200


async def test_keycloak_realm_roles_make_an_admin(provider: Provider) -> None:
    verifier = TokenVerifier(b"x" * 32, provider.settings())

    claims = await verifier.verify(provider.token(realm_access={"roles": ["admin"]}))

    assert claims.user == "alice"
    assert "admin" in claims.roles


async def test_refusals_name_the_reason(provider: Provider) -> None:
    verifier = TokenVerifier(b"x" * 32, provider.settings())
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "preferred_username": "mallory", "exp": time.time() + 60},
        other_key,
        algorithm="RS256",
        headers={"kid": KID},
    )
    cases = {
        provider.token(iss="https://elsewhere.example.org"): "not issued by",
        provider.token(exp=int(time.time()) - 3600): "expired",
        provider.token(preferred_username=None): "preferred_username",
        forged: "signature",
    }
    for token, needle in cases.items():
        with pytest.raises(Unauthorized, match=needle):
            await verifier.verify(token)


async def test_rs256_is_refused_without_a_configured_provider(provider: Provider) -> None:
    verifier = TokenVerifier(b"x" * 32, GatewaySettings())

    with pytest.raises(Unauthorized, match="accepts HS256"):
        await verifier.verify(provider.token())


async def test_an_unreachable_provider_is_a_transient_failure(provider: Provider) -> None:
    settings = provider.settings(oidc_jwks_url="http://127.0.0.1:9/certs")
    verifier = TokenVerifier(b"x" * 32, settings)

    with pytest.raises(TransientError, match="retry"):
        await verifier.verify(provider.token())
