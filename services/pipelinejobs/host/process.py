"""The server commands: ``up`` (everything in one process), ``actor NAME`` and ``gateway``.

Shutdown on SIGINT or SIGTERM is graceful and ordered: the compute service stops first (a job
still running ends STOPPED, and its last callbacks still reach the gateway and the actors), then
the gateway stops taking requests and finishes those in flight, then the actors stop consuming
and finish the messages in flight, then bus and store disconnect. A second signal abandons the
graceful shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from pipelinejobs.compute.port import ComputeService
from pipelinejobs.demo import DemoContent, install_demo
from pipelinejobs.domain.actors import ACTOR_ALIASES
from pipelinejobs.errors import InvalidInput
from pipelinejobs.gateway import create_app, server_for
from pipelinejobs.host.bootstrap import Lifecycle, System, build_system
from pipelinejobs.host.health import serving_health
from pipelinejobs.settings import Settings

PUBLIC_URL_VARIABLE = "PIPELINEJOBS_PUBLIC_URL"
LOG_JSON_VARIABLE = "PIPELINEJOBS_LOG_JSON"
ACCESS_LOG_VARIABLE = "PIPELINEJOBS_ACCESS_LOG"
_WILDCARD_HOSTS = {"", "0.0.0.0", "::"}  # noqa: S104 (recognized, not bound)


class ManagedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the CLI orders the shutdown itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass(frozen=True)
class Running:
    """A started system serving HTTP."""

    system: System
    url: str
    demo: DemoContent | None
    serving: asyncio.Task[None]
    """The gateway's server; it ends only when told to, or when it fails."""


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (port 0: a free one); ``OSError`` says why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # The protocol must be named: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
    # sockets whose ``proto`` is IPPROTO_TCP, and accepted sockets inherit it. With ``proto`` 0
    # a response written in two parts (headers, body) waited for the client's delayed ACK,
    # about 40 ms per request on a kept-alive connection.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def health_socket(settings: Settings) -> socket.socket | None:
    """The bound socket of the health server (None when ``PIPELINEJOBS_HEALTH_PORT`` is unset)."""
    if settings.health_port is None:
        return None
    try:
        return listening_socket(settings.host, settings.health_port)
    except OSError as exc:
        raise InvalidInput(
            f"cannot serve the health probes on {settings.host}:{settings.health_port} "
            f"({exc.strerror or exc}); set PIPELINEJOBS_HEALTH_PORT to a free port"
        ) from None


def local_url(host: str, port: int) -> str:
    """The URL this machine reaches ``host:port`` at (a wildcard host means the loopback)."""
    reachable = "127.0.0.1" if host in _WILDCARD_HOSTS else host
    if ":" in reachable:
        reachable = f"[{reachable}]"
    return f"http://{reachable}:{port}"


LOG_FORMATS = ("console", "json")
"""``--log-format``: console lines for people, JSON lines for machines."""


def server_settings(
    data_dir: Path | None,
    host: str | None,
    port: int | None,
    *,
    log_format: str | None = None,
    access_log: bool | None = None,
    **overrides: object,
) -> Settings:
    """Settings from the environment, with the command line's values on top.

    The public URL (what compute services call back) follows ``--host``/``--port`` unless
    ``PIPELINEJOBS_PUBLIC_URL`` sets it; a server that binds a socket corrects it to the port
    it got (:func:`bound_settings`, for ``--port 0``). Process logs are ``log_format``
    (``console`` or ``json``); without it, console lines on a terminal and JSON lines otherwise,
    unless ``PIPELINEJOBS_LOG_JSON`` says which. The line per HTTP request follows
    ``access_log``; without it, ``PIPELINEJOBS_ACCESS_LOG``, else on with JSON lines (machines
    read them) and off with console lines (a person reads the terminal).
    """
    # Through validation, so a --data-dir is made absolute by the settings' one rule.
    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
    values: dict[str, object] = dict(overrides)
    values["host"] = host if host is not None else settings.host
    values["port"] = port if port is not None else settings.port
    if PUBLIC_URL_VARIABLE not in os.environ:
        values["public_url"] = local_url(str(values["host"]), int(str(values["port"])))
    if log_format is not None:
        if log_format not in LOG_FORMATS:
            raise ValueError(f"log format {log_format!r} is unknown; choose console or json")
        values["log_json"] = log_format == "json"
    elif LOG_JSON_VARIABLE not in os.environ and sys.stderr.isatty():
        values["log_json"] = False
    log_json = bool(values.get("log_json", settings.log_json))
    if access_log is not None:
        values["access_log"] = access_log
    elif ACCESS_LOG_VARIABLE not in os.environ:
        values["access_log"] = log_json
    return settings.model_copy(update=values)


def bound_settings(settings: Settings, sock: socket.socket) -> Settings:
    """``settings`` with the port ``sock`` is bound to, and the public URL derived from it
    (unless ``PIPELINEJOBS_PUBLIC_URL`` sets it): with ``--port 0`` only the bound socket knows
    the port, and callback URLs and the banner must name the one that answers."""
    port = int(sock.getsockname()[1])
    values: dict[str, object] = {"port": port}
    if PUBLIC_URL_VARIABLE not in os.environ:
        values["public_url"] = local_url(settings.host, port)
    return settings.model_copy(update=values)


@contextlib.asynccontextmanager
async def running_system(
    settings: Settings,
    sock: socket.socket,
    *,
    demo: bool,
    compute: ComputeService | None = None,
) -> AsyncIterator[Running]:
    """Start the whole system and serve the gateway on ``sock``; stop it all in order.

    ``settings`` must name the port ``sock`` is bound to (:func:`bound_settings`). The example
    apps are installed by the local execution system itself when it starts (wherever the
    agave-proxy runs it), not here.
    """
    system = build_system(settings, compute=compute, configure_logs=True)
    await system.start()
    try:
        content = await install_demo(system) if demo else None
        host, port = sock.getsockname()[:2]
        server = ManagedServer(server_for(create_app(system), host, port).config)
        with long_lived_heap():
            serving = asyncio.create_task(server.serve(sockets=[sock]), name="gateway")
            try:
                await _started(server, serving)
                yield Running(system, settings.public_url.rstrip("/"), content, serving)
            finally:
                if isinstance(system.compute, Lifecycle):
                    await system.compute.close()
                server.should_exit = True
                await serving
    finally:
        await system.close()


@contextlib.contextmanager
def long_lived_heap() -> Iterator[None]:
    """What exists when the block starts (modules, schemas, the started system, the gateway's
    application) kept out of the garbage collector's full collections until it ends.

    Those ~100,000 objects live as long as the process, yet every full collection walked them:
    30-40 ms during which no request was answered, twice in 4,000
    webhooks, which is a busy gateway's p99. Frozen, a full collection of what requests leave
    behind takes about 5 ms. They are handed back to the collector at the end (a test or
    ``demo`` process starts several systems)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def _started(server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
    while not server.started:
        if serving.done():
            serving.result()
            raise RuntimeError("the gateway stopped while starting")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def stop_signals() -> AsyncIterator[asyncio.Event]:
    """An event set by the first SIGINT/SIGTERM. A second signal cancels the task running this
    block, abandoning the graceful shutdown (``asyncio.CancelledError`` leaves ``asyncio.run``)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    stop = asyncio.Event()

    def on_signal() -> None:
        if stop.is_set() and task is not None:
            task.cancel()
        stop.set()

    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, on_signal)
            installed.append(signum)
    try:
        yield stop
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


async def consume(settings: Settings, aliases: list[str]) -> None:
    """Run the consumers of ``aliases`` until a signal, with their health server when
    ``PIPELINEJOBS_HEALTH_PORT`` is set (:mod:`pipelinejobs.host.health`)."""
    async with stop_signals() as stop:
        system = build_system(settings, configure_logs=True)
        async with serving_health(system, aliases, health_socket(settings)):
            await system.start(aliases=aliases)
            try:
                await stop.wait()
            finally:
                await system.close()


async def serve_gateway_only(
    settings: Settings, sock: socket.socket, announce: Callable[[str], None] | None = None
) -> None:
    """The gateway alone: store and bus connected, no queue consumed. ``announce`` gets the
    public URL once the gateway answers there."""
    async with stop_signals() as stop:
        system = build_system(settings, configure_logs=True)
        await system.start(aliases=[])
        try:
            host, port = sock.getsockname()[:2]
            server = ManagedServer(server_for(create_app(system), host, port).config)
            with long_lived_heap():
                serving = asyncio.create_task(server.serve(sockets=[sock]), name="gateway")
                await _started(server, serving)
                if announce is not None:
                    announce(settings.public_url.rstrip("/"))
                stopping = asyncio.create_task(stop.wait())
                await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                server.should_exit = True
                stopping.cancel()
                await serving
        finally:
            await system.close()


def check_actor(name: str) -> str:
    """``name`` if it is an actor alias; ``ValueError`` listing them otherwise."""
    if name not in ACTOR_ALIASES:
        raise ValueError(f"no actor {name!r}; choose one of {', '.join(ACTOR_ALIASES)}")
    return name
