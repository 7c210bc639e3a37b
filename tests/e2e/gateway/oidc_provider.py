"""A local OIDC identity provider for tests: an RSA key, its JWKS served over local HTTP, and
token minting (shared by the OIDC tests and the attack catalogue in ``tests/security``)."""

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
from pipelinejobs.gateway import GatewaySettings

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
