"""The gateway's FastAPI application, made around a running
:class:`~pipelinejobs.host.bootstrap.System`.

The application owns no lifecycle: whoever made the system starts and closes it (``pipelinejobs
gateway`` and ``pipelinejobs up`` do), so the same system can serve HTTP and run actors.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from pipelinejobs import __version__
from pipelinejobs.gateway import (
    routes_abaco,
    routes_catalog,
    routes_catalog_load,
    routes_dead_letters,
    routes_executions,
    routes_files,
    routes_health,
    routes_messages,
    routes_nonces,
    routes_read,
)
from pipelinejobs.gateway.access_log import AccessLog
from pipelinejobs.gateway.actors import ActorDirectory
from pipelinejobs.gateway.auth import Authenticator
from pipelinejobs.gateway.config import GatewaySettings
from pipelinejobs.gateway.problems import Problem, install_problem_handlers
from pipelinejobs.gateway.routes_messages import MessageRoute
from pipelinejobs.gateway.state import Gateway
from pipelinejobs.gateway.tokens import TokenVerifier
from pipelinejobs.host.bootstrap import System
from pipelinejobs.messages.limits import Limits

DESCRIPTION = """\
How people and compute services reach the pipelinejobs actors, with Abaco-compatible paths:
the documentation's `curl` examples work with only the host changed.

**Authentication.** Every route but `/healthz`, `/readyz` and this documentation needs
`Authorization: Bearer <jwt>` (HS256 from `pipelinejobs token issue --user NAME`, or RS256 from
the configured OIDC provider). The routes of one actor's messages and executions also accept a
nonce of that actor (`x-nonce=<id>` URL parameter or `X-Nonce` header): sending a message needs
level EXECUTE, reading an execution READ, and each request uses the nonce once (a message
that is not accepted, refused or answered 503, gives its use back).

**Errors** are `application/problem+json` documents whose `detail` says what to change. On the
`/actors/v2` routes they are Abaco error envelopes too: `status` is `"error"` there (the HTTP
status is the response's), `message` repeats `detail`, `result` is null.
"""


def create_app(system: System, settings: GatewaySettings | None = None) -> FastAPI:
    """The HTTP application serving ``system`` (which the caller starts and closes)."""
    settings = settings or GatewaySettings()
    gateway = Gateway(
        system=system,
        settings=settings,
        directory=ActorDirectory(system.actors, settings.actor_ids),
        authenticator=Authenticator(
            TokenVerifier(system.secrets.jwt_secret, settings),
            system.store,
            frozenset(settings.admin_users),
        ),
        limits=Limits(
            max_bytes=system.settings.max_message_bytes,
            max_depth=system.settings.max_message_depth,
        ),
    )
    app = FastAPI(
        title="pipelinejobs gateway",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.gateway = gateway
    install_problem_handlers(app)
    for module in (
        routes_health,
        routes_messages,
        routes_executions,
        routes_nonces,
        routes_abaco,
        routes_read,
        routes_dead_letters,
        routes_files,
        routes_catalog,
        routes_catalog_load,
    ):
        app.include_router(module.router)
    app.add_middleware(MessageRoute)  # inside the access log: webhooks are logged too
    app.add_middleware(AccessLog, requests=system.settings.access_log)
    _document_problems(app)
    return app


def _document_problems(app: FastAPI) -> None:
    """Add the Problem schema, which the routes' error responses refer to, to the OpenAPI."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Problem"] = Problem.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
