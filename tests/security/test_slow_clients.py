"""Slow and surplus clients, over real sockets (issue 13, item 4).

A client that trickles its headers (slowloris) or its body is cut off at the configured
deadline with a 408 naming the late part; connections beyond the limit get a 503 with
Retry-After; a prompt client is served meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from gateway_harness import Recorder, Served, ServeGateway
from pipelinejobs.domain.derived_ids import sender_message_id
from pipelinejobs.domain.executions import execution_id_for
from pipelinejobs.gateway import GatewaySettings

pytestmark = pytest.mark.timeout(60)  # without the limits a held connection blocks shutdown

MESSAGES = f"/actors/v2/{Recorder.alias}/messages"
DEADLINE = 10.0
"""How long a test waits for the server's answer: far beyond the configured timeouts."""


async def limited(
    make_system: Any, serve_gateway: ServeGateway, **limits: Any
) -> tuple[Served, str, int]:
    system = await make_system(actors=[Recorder()])
    served = await serve_gateway(system, GatewaySettings(**limits))
    address = urlsplit(served.base_url)
    assert address.hostname is not None
    assert address.port is not None
    return served, address.hostname, address.port


async def exchange(
    host: str, port: int, head: bytes, pieces: list[bytes], *, every: float
) -> tuple[int, dict[str, str], bytes]:
    """Send ``head``, then ``pieces`` one by one ``every`` seconds apart, while reading what
    the server answers; stop sending when it closes. Its status, headers and body."""
    reader, writer = await asyncio.open_connection(host, port)
    received = bytearray()

    async def read_all() -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                received.extend(chunk)

    reading = asyncio.create_task(read_all())
    with contextlib.suppress(ConnectionError):
        writer.write(head)
        await writer.drain()
        for piece in pieces:
            await asyncio.wait([reading], timeout=every)
            if reading.done():
                break
            writer.write(piece)
            await writer.drain()
    await asyncio.wait_for(reading, DEADLINE)
    writer.close()
    return parsed(bytes(received))


def parsed(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


async def test_slowloris_headers_are_cut_off_with_408(
    make_system: Any, serve_gateway: ServeGateway
) -> None:
    served, host, port = await limited(make_system, serve_gateway, header_timeout=0.5)
    status, headers, body = await exchange(
        host,
        port,
        b"POST " + MESSAGES.encode() + b" HTTP/1.1\r\nHost: x\r\n",
        [b"X-Slow: 1\r\n"] * 20,  # a header line now and then, never the blank line
        every=0.2,
    )

    assert status == 408
    assert headers["content-type"].startswith("application/problem+json")
    assert "headers did not arrive within 0.5 seconds" in json.loads(body)["detail"]
    assert (await served.client.get("/healthz")).status_code == 200


async def test_an_idle_connection_is_closed_at_the_header_deadline(
    make_system: Any, serve_gateway: ServeGateway
) -> None:
    _, host, port = await limited(make_system, serve_gateway, header_timeout=0.5)
    status, _, _ = await exchange(host, port, b"", [], every=0)  # nothing sent at all
    assert status == 408


async def test_headers_beyond_the_size_limit_are_refused_with_400(
    make_system: Any, serve_gateway: ServeGateway
) -> None:
    served, host, port = await limited(make_system, serve_gateway, header_timeout=5)
    line = b"X-Padding: " + b"p" * 1000 + b"\r\n"
    status, _, body = await exchange(
        host, port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", [line] * 40, every=0.02
    )

    assert status == 400
    assert b"Invalid HTTP request" in body
    assert (await served.client.get("/healthz")).status_code == 200


async def test_slow_body_is_cut_off_with_408_and_nothing_is_submitted(
    make_system: Any, serve_gateway: ServeGateway
) -> None:
    served, host, port = await limited(
        make_system, serve_gateway, header_timeout=5, body_timeout=0.6
    )
    body = b'{"n": 1, "padding": "' + b"x" * 200 + b'"}'
    token = served.token("alice")
    head = (
        f"POST {MESSAGES} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nX-Message-Id: slow-body\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    # a few bytes at a time, steadily, never the whole body
    pieces = [body[start : start + 4] for start in range(0, 80, 4)]
    status, _, answer = await exchange(host, port, head, pieces, every=0.1)

    assert status == 408
    assert "body did not arrive within 0.6 seconds" in json.loads(answer)["detail"]
    message_id = sender_message_id("user:alice", "slow-body")
    assert await served.system.store.get_execution(execution_id_for(message_id)) is None


async def test_connections_beyond_the_limit_get_503_and_prompt_clients_are_served(
    make_system: Any, serve_gateway: ServeGateway
) -> None:
    served, host, port = await limited(
        make_system, serve_gateway, max_connections=2, header_timeout=5
    )
    held = [await asyncio.open_connection(host, port) for _ in range(2)]
    await asyncio.sleep(0.1)
    status, headers, body = await exchange(
        host, port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", [], every=0
    )
    assert status == 503
    assert int(headers["retry-after"]) > 0
    assert "at most 2 connections" in json.loads(body)["detail"]

    for _, held_writer in held:
        held_writer.close()
    await asyncio.sleep(0.2)
    assert (await served.client.get("/healthz")).status_code == 200
    served_again = await served.client.get("/jobs", headers=served.bearer())
    assert served_again.status_code == 200
