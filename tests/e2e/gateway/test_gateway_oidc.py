"""RS256 Bearer tokens from an OIDC provider, verified with its JWKS served over local HTTP."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from gateway_harness import Recorder, ServeGateway, assert_problem
from pipelinejobs.errors import TransientError, Unauthorized
from pipelinejobs.gateway import GatewaySettings
from pipelinejobs.gateway.tokens import TokenVerifier

ISSUER = "https://keycloak.example.org/realms/sd2e"
AUDIENCE = "pipelinejobs"
KID = "test-key-1"


class Provider:
    """An identity provider: an RSA key, its JWKS on a local HTTP server, and token minting."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwks = json.dumps({"keys": [public | {"kid": KID, "use": "sig", "alg": "RS256"}]})

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(jwks.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.jwks_url = f"http://127.0.0.1:{self.server.server_address[1]}/certs"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "f3a1c2d4-user",
            "preferred_username": "alice",
            "iat": now,
            "exp": now + 300,
            "realm_access": {"roles": ["offline_access"]},
        } | claims
        return jwt.encode(payload, self.key, algorithm="RS256", headers={"kid": KID})

    def settings(self, **overrides: Any) -> GatewaySettings:
        values = {
            "oidc_issuer": ISSUER,
            "oidc_jwks_url": self.jwks_url,
            "oidc_audience": AUDIENCE,
            "oidc_user_claim": "preferred_username",
        } | overrides
        return GatewaySettings(**values)


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    provider = Provider()
    yield provider
    provider.server.shutdown()


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
