"""The blocking SDK's own machinery: its event-loop thread never outlives it or hangs a call."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from pipelinejobs.client.sync import LOOP_THREAD, Gateway
from pipelinejobs.errors import InvalidInput


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == LOOP_THREAD and t.is_alive()]


def test_a_gateway_that_cannot_be_made_leaves_no_thread_behind() -> None:
    before = len(loop_threads())

    with pytest.raises(InvalidInput, match="not accepted"):
        Gateway("not a url", token="t")

    assert len(loop_threads()) == before


def test_a_call_whose_event_loop_stops_fails_instead_of_hanging() -> None:
    async def stop_the_loop(request: httpx.Request) -> httpx.Response:
        asyncio.get_running_loop().stop()  # as if the loop died under the call
        await asyncio.Event().wait()
        raise AssertionError("never answered")

    gateway = Gateway(
        "http://gateway.test", token="t", transport=httpx.MockTransport(stop_the_loop)
    )
    try:
        with pytest.raises(RuntimeError, match="event loop stopped during the call"):
            gateway.ready()
    finally:
        gateway.close()

    with pytest.raises(RuntimeError, match="closed"):
        gateway.ready()
