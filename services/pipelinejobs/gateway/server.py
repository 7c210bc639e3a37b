"""Serving the gateway with uvicorn, with uvicorn's access log off.

uvicorn's access log prints each request line with its query string, which carries tokens and
nonces; the gateway's own access log (:mod:`pipelinejobs.gateway.access_log`) replaces it.
"""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI


def server_for(app: FastAPI, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server for ``app`` that logs nothing of the requests itself."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        server_header=False,
        lifespan="off",
    )
    return uvicorn.Server(config)
