"""The gateway's listening socket: connections it accepts send small writes at once.

A response is written in parts (headers, then body). With Nagle's algorithm on, the second part
waits for the client's ACK of the first, which a kept-alive client delays by up to 40 ms: every
request over a kept-alive connection took about 45 ms. asyncio turns Nagle off only on sockets
whose protocol is IPPROTO_TCP, so the listening socket must name it.
"""

from __future__ import annotations

import asyncio
import socket

from pipelinejobs.host.process import listening_socket


async def test_accepted_connections_have_nagle_turned_off() -> None:
    seen: list[int] = []

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(
            writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        )
        writer.close()

    sock = listening_socket("127.0.0.1", 0)
    server = await asyncio.start_server(accepted, sock=sock)
    async with server:
        reader, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        await asyncio.wait_for(reader.read(), 10)  # EOF: the server has seen the connection
        writer.close()
        await writer.wait_closed()

    assert len(seen) == 1
    assert seen[0] != 0
