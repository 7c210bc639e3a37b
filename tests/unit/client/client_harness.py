"""The SDK against the real gateway app and a real system, in process (``httpx.ASGITransport``).

``Sdk`` bundles a started system (the four actors, embedded bus and store), an ``AsyncGateway``
for user alice whose requests go straight into the gateway's ASGI app, the demo catalog, and a
registered pipeline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from pipelinejobs.application.catalog import load_catalog
from pipelinejobs.client import AsyncGateway, PipelinesClient
from pipelinejobs.demo.content import DEMO_CATALOG
from pipelinejobs.gateway import GatewaySettings, create_app, issue_token
from pipelinejobs.host.bootstrap import System

BASE_URL = "http://gateway.test"
PIPELINE: dict[str, Any] = {
    "name": "SDK test pipeline",
    "description": "Counts things",
    "components": [{"id": "counter-1.0", "inputs": {}, "parameters": {}}],
    "processing_levels": ["1", "2"],
}


@dataclass
class Sdk:
    system: System
    transport: httpx.ASGITransport
    gateway: AsyncGateway
    pipeline_uuid: str

    def connect(self, user: str | None = "alice", nonce: str | None = None) -> AsyncGateway:
        """Another client of the same gateway: as ``user`` (None: no token), with ``nonce``."""
        token = issue_token(self.system.secrets.jwt_secret, user, ttl=600) if user else None
        return AsyncGateway(BASE_URL, token=token, nonce=nonce, transport=self.transport)

    def admin_token(self) -> str:
        """A 30-second admin token, as `pipelinejobs admin-token` prints."""
        return self.system.admin_tokens.issue(time.time())


async def make_sdk(system: System) -> Sdk:
    await load_catalog(system.store, DEMO_CATALOG, domain=system.settings.uuid_domain)
    transport = httpx.ASGITransport(app=create_app(system, GatewaySettings()))
    token = issue_token(system.secrets.jwt_secret, "alice", ttl=600)
    gateway = AsyncGateway(BASE_URL, token=token, transport=transport)
    created = await PipelinesClient(gateway).create(PIPELINE)
    return Sdk(system, transport, gateway, str(created["uuid"]))
