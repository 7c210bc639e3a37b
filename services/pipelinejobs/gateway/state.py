"""What every route needs, kept on the FastAPI application's state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from pipelinejobs.messages.limits import Limits

if TYPE_CHECKING:
    from pipelinejobs.gateway.actors import ActorDirectory
    from pipelinejobs.gateway.auth import Authenticator
    from pipelinejobs.gateway.config import GatewaySettings
    from pipelinejobs.host.bootstrap import System


@dataclass(frozen=True)
class Gateway:
    system: System
    settings: GatewaySettings
    directory: ActorDirectory
    authenticator: Authenticator
    limits: Limits

    @property
    def public_url(self) -> str:
        return self.system.settings.public_url.rstrip("/")


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway
