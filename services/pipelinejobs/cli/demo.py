"""``pipelinejobs demo``: the walkthrough of ``docs/walkthrough.md``, run by itself, printing the
job record.

Against a running system (``--url``), embedded or distributed: the walk prepares what it needs
(catalog, pipeline) through the gateway, see :mod:`pipelinejobs.demo.walkthrough`. Or, with
``--embedded``, against a temporary embedded
system this command starts in a temporary data directory on a free port and stops afterwards.
It exits 1, with the reason, when the walk does not go as documented (the TACObot job does not
end FINISHED and indexed, or a failing job does not end FAILED); the job's record is printed
all the same, so what went wrong can be read.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from pipelinejobs.cli.connection import (
    DEFAULT_URL,
    JsonOption,
    TokenOption,
    UrlOption,
    admin_bearer_token,
)
from pipelinejobs.cli.connection import bearer_token as local_bearer
from pipelinejobs.cli.output import fail, print_document, progress, reports_errors
from pipelinejobs.client import AsyncGateway
from pipelinejobs.demo import Walkthrough, WalkthroughFailed, run_walkthrough
from pipelinejobs.host.process import listening_socket, local_url, running_system
from pipelinejobs.logs import configure_logging
from pipelinejobs.settings import Settings


@reports_errors
def demo(
    embedded: Annotated[
        bool,
        typer.Option("--embedded", help="Start a temporary embedded system for the demo."),
    ] = False,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run the walkthrough: create a pipeline, launch a job, follow it, print its record."""
    try:
        if embedded:
            walkthrough = asyncio.run(_embedded())
        else:
            walkthrough = asyncio.run(_against(url, local_bearer(token)))
    except WalkthroughFailed as exc:
        print_document(exc.job, as_json)
        raise fail(str(exc)) from None
    print_document(walkthrough.job, as_json)


async def _against(url: str, token: str | None) -> Walkthrough:
    async with AsyncGateway(url, token) as gateway:
        return await run_walkthrough(gateway, report=progress)


async def _embedded() -> Walkthrough:
    with tempfile.TemporaryDirectory(prefix="pipelinejobs-demo-") as directory:
        sock = listening_socket("127.0.0.1", 0)
        port = int(sock.getsockname()[1])
        settings = Settings(  # its own callbacks, whatever PIPELINEJOBS_PUBLIC_URL says
            data_dir=Path(directory),
            amqp_url=None,
            mongodb_url=None,
            host="127.0.0.1",
            port=port,
            public_url=local_url("127.0.0.1", port),
            log_level="WARNING",
            log_json=False,
        )
        # Configure the process logs before the compute modules make their loggers.
        configure_logging(settings.log_level, json_lines=settings.log_json)
        from pipelinejobs.compute.factory import ComputeSettings, create_compute
        from pipelinejobs.storage.local import LocalStorage

        storage = LocalStorage(settings.data_dir / "storage")
        compute = create_compute(settings, storage, ComputeSettings(compute_url=None))
        progress(f"Starting a temporary embedded system in {directory}")
        async with running_system(settings, sock, demo=True, compute=compute) as running:
            token = admin_bearer_token(running.system.secrets.jwt_secret)
            async with AsyncGateway(running.url, token) as gateway:
                return await run_walkthrough(gateway, report=progress)
