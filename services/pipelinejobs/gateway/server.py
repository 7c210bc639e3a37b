"""Serving the gateway with uvicorn, with uvicorn's access log off and limits on slow clients.

uvicorn's access log prints each request line with its query string, which carries tokens and
nonces; the gateway's own access log (:mod:`pipelinejobs.gateway.access_log`) replaces it. The
HTTP protocol is uvicorn's httptools one with read deadlines and a connection cap
(:mod:`pipelinejobs.gateway.connection_limits`), set from :class:`GatewaySettings`.
"""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from pipelinejobs.gateway.config import GatewaySettings
from pipelinejobs.gateway.connection_limits import ConnectionLimits, limited_protocol


def server_for(
    app: FastAPI, host: str, port: int, settings: GatewaySettings | None = None
) -> uvicorn.Server:
    """A uvicorn server for ``app`` that logs nothing of the requests itself and bounds how
    long a request may take to arrive and how many connections are open (``settings``, from
    the environment when not given)."""
    settings = settings or GatewaySettings()
    limits = ConnectionLimits(
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        max_connections=settings.max_connections,
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        server_header=False,
        lifespan="off",
        http=limited_protocol(limits),
        timeout_keep_alive=settings.keep_alive_timeout,
    )
    return uvicorn.Server(config)
