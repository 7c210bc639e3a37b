"""CLI commands that run parts of the system: ``up``, ``actor NAME``, ``gateway``."""

from __future__ import annotations

import asyncio
import enum
import socket
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

from pipelinejobs.cli.connection import LOCAL_USER, admin_bearer_token
from pipelinejobs.cli.output import ExitCode, fail, reports_errors
from pipelinejobs.domain.actors import ACTOR_ALIASES
from pipelinejobs.gateway.tokens import DEFAULT_TOKEN_TTL
from pipelinejobs.host.process import (
    Running,
    bound_settings,
    check_actor,
    consume,
    listening_socket,
    local_url,
    running_system,
    serve_gateway_only,
    server_settings,
    stop_signals,
)
from pipelinejobs.settings import Settings

HostOption = Annotated[
    str | None,
    typer.Option("--host", help="Address to listen on (default: PIPELINEJOBS_HOST or 127.0.0.1)."),
]
PortOption = Annotated[
    int | None,
    typer.Option(
        "--port",
        help="Port to listen on (default: PIPELINEJOBS_PORT or 8000; 0: a free one, printed).",
        min=0,
        max=65535,
    ),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Store, secrets, storage, apps (default: PIPELINEJOBS_DATA_DIR or ./data).",
        file_okay=False,
    ),
]


class LogFormat(enum.StrEnum):
    """The choices of ``--log-format`` (:data:`~pipelinejobs.host.process.LOG_FORMATS`)."""

    CONSOLE = "console"
    JSON = "json"


LogFormatOption = Annotated[
    LogFormat | None,
    typer.Option(
        "--log-format",
        envvar="PIPELINEJOBS_LOG_FORMAT",
        help="Process logs as console lines or JSON lines (default: console on a terminal, "
        "JSON otherwise).",
        case_sensitive=False,
        show_default=False,
    ),
]
AccessLogOption = Annotated[
    bool | None,
    typer.Option(
        "--access-log/--no-access-log",
        help="A log line per HTTP request (default: on with JSON logs, off with console logs).",
        show_default=False,
    ),
]
IN_PROCESS_BUS = (
    "the in-process bus cannot be shared between processes: set PIPELINEJOBS_AMQP_URL to a "
    "RabbitMQ broker to run actors and the gateway as separate processes, or run everything "
    "in one process with `pipelinejobs up`"
)


@reports_errors
def up(
    host: HostOption = None,
    port: PortOption = None,
    data_dir: DataDirOption = None,
    no_demo: Annotated[
        bool, typer.Option("--no-demo", help="Do not load the demo catalog and pipeline.")
    ] = False,
    log_format: LogFormatOption = None,
    access_log: AccessLogOption = None,
) -> None:
    """Run the whole system in one process: gateway, four actors, local compute.

    Loads the demo (idempotent), prints the URL and a token; Ctrl+C stops it gracefully.
    """
    settings = server_settings(
        data_dir, host, port, log_format=_format(log_format), access_log=access_log
    )
    sock = _bind(settings)
    _run(_up(bound_settings(settings, sock), sock, demo=not no_demo))


async def _up(settings: Settings, sock: socket.socket, *, demo: bool) -> None:
    async with stop_signals() as stop, running_system(settings, sock, demo=demo) as running:
        _banner(settings, running)
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({stopping, running.serving}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if running.serving.done():
            running.serving.result()  # the gateway failed: say why
            raise RuntimeError("the gateway stopped by itself")
        typer.echo("Stopping: letting running work finish (Ctrl+C again to abandon it)", err=True)


def _banner(settings: Settings, running: Running) -> None:
    token = admin_bearer_token(running.system.secrets.jwt_secret, ttl=DEFAULT_TOKEN_TTL)
    bus = "RabbitMQ" if settings.amqp_url else "in-process bus"
    store = "MongoDB" if settings.mongodb_url else "SQLite"
    lines = [f"pipelinejobs is up at {running.url}"]
    listening = local_url(settings.host, settings.port)
    if listening != running.url:
        lines.append(f"  listening on {listening}")
    lines += [
        f"  gateway, {len(running.system.actors)} actors and the compute service in one "
        f"process ({bus}, {store}, data directory {settings.data_dir})",
    ]
    if running.demo is not None:
        lines.append(
            f"  demo: catalog loaded (sample.tacc.abcde...), pipeline {running.demo.pipeline_uuid}"
            " runs tacobot9000-0.1.0u1 and wordcount-0.1.0"
        )
    lines += [
        f"Bearer token for user {LOCAL_USER} (role admin, valid {DEFAULT_TOKEN_TTL // 3600} h):",
        f"export PIPELINEJOBS_TOKEN={token}",
        "  This token again, at any time: pipelinejobs token issue    "
        "(others: --user NAME [--role admin])",
        f"  API documentation: {running.url}/docs    Walkthrough: docs/walkthrough.md",
        "Press Ctrl+C to stop.",
    ]
    for line in lines:
        typer.echo(line)


@reports_errors
def actor(
    name: Annotated[str, typer.Argument(help=f"One of {', '.join(ACTOR_ALIASES)}.")],
    log_format: LogFormatOption = None,
) -> None:
    """Run one actor's consumer (scale out: start as many as you like, on RabbitMQ)."""
    try:
        alias = check_actor(name)
    except ValueError as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    settings = server_settings(None, None, None, log_format=_format(log_format))
    if settings.amqp_url is None:
        raise fail(IN_PROCESS_BUS, ExitCode.USAGE)
    _run(consume(settings, [alias]))


@reports_errors
def gateway(
    host: HostOption = None,
    port: PortOption = None,
    log_format: LogFormatOption = None,
    access_log: AccessLogOption = None,
) -> None:
    """Serve the gateway alone (store and bus connected; it consumes no queue)."""
    settings = server_settings(
        None, host, port, log_format=_format(log_format), access_log=access_log
    )
    if settings.amqp_url is None:
        raise fail(IN_PROCESS_BUS, ExitCode.USAGE)
    sock = _bind(settings)
    _run(serve_gateway_only(bound_settings(settings, sock), sock, announce=_gateway_banner))


def _gateway_banner(url: str) -> None:
    typer.echo(f"pipelinejobs gateway is up at {url}")


def _format(log_format: LogFormat | None) -> str | None:
    return None if log_format is None else log_format.value


def _bind(settings: Settings) -> socket.socket:
    try:
        return listening_socket(settings.host, settings.port)
    except OSError as exc:
        raise fail(
            f"cannot listen on {settings.host}:{settings.port} ({exc.strerror or exc}); "
            "choose another --port or stop what uses it"
        ) from None


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Run a server coroutine; a second stop signal cancels it (exit code 1)."""
    try:
        asyncio.run(main)
    except asyncio.CancelledError:
        raise fail("stopped without finishing the work in flight (second stop signal)") from None
