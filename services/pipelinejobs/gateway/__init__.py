"""The HTTP gateway: Abaco-compatible actor routes, executions, nonces and the read API.

For the CLI: :func:`create_app`, :func:`server_for`, :func:`issue_token`, :func:`create_nonce`, and
:class:`ActorDirectory` to turn an actor id into its alias.
"""

from pipelinejobs.domain.nonces import Level
from pipelinejobs.gateway.actors import ActorDirectory
from pipelinejobs.gateway.app import create_app
from pipelinejobs.gateway.config import GatewaySettings
from pipelinejobs.gateway.nonces import create_nonce, public_nonce
from pipelinejobs.gateway.server import server_for
from pipelinejobs.gateway.tokens import DEFAULT_TOKEN_TTL, issue_token

__all__ = [
    "DEFAULT_TOKEN_TTL",
    "ActorDirectory",
    "GatewaySettings",
    "Level",
    "create_app",
    "create_nonce",
    "issue_token",
    "public_nonce",
    "server_for",
]
