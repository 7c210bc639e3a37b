"""Requests over a kept-alive HTTP connection: the gateway's listening socket vs. the old one.

The SDK, the CLI and the local execution system's notifier keep their connections alive. Each
request over such a connection took about 45 ms while a fresh connection took a few: the
gateway's listening socket was made without naming its protocol (``proto`` 0), asyncio turns
Nagle's algorithm off only on sockets whose ``proto`` is IPPROTO_TCP, and so a response written
in two parts (headers, then body) waited for the client's delayed ACK. The client side was not
the cause: httpx sets TCP_NODELAY on its own sockets.

Both servers below serve the same embedded system in this process; ``ours`` listens on
:func:`~pipelinejobs.host.process.listening_socket`, the ``baseline`` on a socket made the old
way. Each row is the median time of one request over one kept-alive connection (and, for
reference, over a fresh connection each time).
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from pipelinejobs.gateway import create_app, server_for
from pipelinejobs.host.bootstrap import build_system
from pipelinejobs.host.process import ManagedServer, listening_socket
from pipelinejobs.settings import Settings

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0", "false")
REQUESTS = 10 if QUICK else 100


def old_listening_socket(host: str, port: int) -> socket.socket:
    """The socket the gateway listened on before the fix: no protocol named."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


async def _median_request(url: str, *, kept_alive: bool, requests: int) -> float:
    """Median seconds of ``GET /readyz`` (store and bus checked, a small JSON body)."""
    timings: list[float] = []
    if kept_alive:
        async with httpx.AsyncClient(base_url=url) as client:
            await client.get("/readyz")  # the connection is open before timing starts
            for _ in range(requests):
                started = time.perf_counter()
                (await client.get("/readyz")).raise_for_status()
                timings.append(time.perf_counter() - started)
    else:
        for _ in range(requests):
            async with httpx.AsyncClient(base_url=url) as client:
                started = time.perf_counter()
                (await client.get("/readyz")).raise_for_status()
                timings.append(time.perf_counter() - started)
    return statistics.median(timings)


async def run() -> list[dict[str, Any]]:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-keepalive-"))
    system = build_system(Settings(data_dir=data_dir))
    await system.start(aliases=[])
    servers: list[tuple[ManagedServer, asyncio.Task[None]]] = []
    urls: dict[str, str] = {}
    try:
        app = create_app(system)
        for name, sock in (
            ("ours", listening_socket("127.0.0.1", 0)),
            ("baseline", old_listening_socket("127.0.0.1", 0)),
        ):
            host, port = sock.getsockname()[:2]
            server = ManagedServer(server_for(app, host, port).config)
            servers.append((server, asyncio.create_task(server.serve(sockets=[sock]))))
            urls[name] = f"http://{host}:{port}"
        for _ in range(1500):  # at most 30 s
            if all(server.started for server, _ in servers):
                break
            await asyncio.sleep(0.02)
        rows = []
        for case, kept_alive in (("kept-alive connection", True), ("fresh connection", False)):
            ours = await _median_request(urls["ours"], kept_alive=kept_alive, requests=REQUESTS)
            baseline = await _median_request(
                urls["baseline"], kept_alive=kept_alive, requests=REQUESTS
            )
            rows.append(
                {
                    "case": f"GET /readyz, {case}",
                    "ours": round(ours * 1000, 2),
                    "baseline": round(baseline * 1000, 2),
                    "ratio": round(ours / baseline, 2) if baseline else None,
                    "unit": f"ms per request, median of {REQUESTS} (baseline: listening "
                    "socket without IPPROTO_TCP, Nagle on)",
                }
            )
        return rows
    finally:
        for server, _ in servers:
            server.should_exit = True
        for _, serving in servers:
            await serving
        await system.close()


if __name__ == "__main__":
    from pipelinejobs.logs import configure_logging

    configure_logging("WARNING", json_lines=False)
    for row in asyncio.run(run()):
        print(row)
