"""Steady compute callbacks through a gateway and jobs-manager processes on RabbitMQ, with one
fault each: actors SIGKILLed, the gateway killed with callbacks in flight, the store locked by
another process, the broker connections dropped.

The callbacks come as Agave sends them (no ``X-Message-Id``, the same body again when no answer
came). Each test counts what was sent, accepted and applied, and asserts that nothing was lost,
nothing doubled, every job's history is in order, and that the system recovered by itself (no
process restarted by hand except the one the test killed).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cluster import Cluster
from pipelinejobs.store.factory import SQLITE_FILE
from reliability_kit import Callbacks, bearer_token, histories, seed_running_jobs, wait_applied

pytestmark = pytest.mark.rabbitmq

JOBS = 6
PER_JOB = 20
TOTAL = JOBS * PER_JOB


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    cluster = Cluster(tmp_path)
    cluster.data_dir.mkdir()
    try:
        cluster.start_gateway()
        cluster.start_actor()
        cluster.start_actor()
        yield cluster
    finally:
        exit_codes = await asyncio.to_thread(cluster.stop)
    assert set(exit_codes) <= {0}, exit_codes


async def stream(cluster: Cluster, label: str) -> tuple[Callbacks, asyncio.Task[object]]:
    tokens = await seed_running_jobs(cluster.data_dir, label, JOBS)
    callbacks = Callbacks(lambda: cluster.url, bearer_token(cluster.data_dir), tokens, PER_JOB)
    return callbacks, asyncio.create_task(callbacks.run())


async def settled(cluster: Cluster, callbacks: Callbacks, sending: asyncio.Task[object]) -> None:
    """Every callback accepted once and applied once, in order; then nothing more appears."""
    tally = await sending
    async with httpx.AsyncClient(
        base_url=cluster.url, headers=callbacks.headers, timeout=30
    ) as client:
        found = await wait_applied(client, list(callbacks.tokens), PER_JOB)
        await asyncio.sleep(2.0)  # a redelivered duplicate would be applied by now
        assert await histories(client, list(callbacks.tokens)) == found
    assert callbacks.tally is tally
    assert tally.accepted == TOTAL
    assert tally.sent >= TOTAL


async def test_actor_sigkills_lose_and_double_nothing(cluster: Cluster) -> None:
    callbacks, sending = await stream(cluster, "sigkill")

    for share in (0.25, 0.6):
        await callbacks.until(int(TOTAL * share))
        victim = next(p for p in cluster.running() if p.name == "jobs-manager")
        cluster.kill(victim)
        await asyncio.to_thread(cluster.start_actor)

    await settled(cluster, callbacks, sending)


async def test_a_gateway_killed_with_callbacks_in_flight_applies_each_once(
    cluster: Cluster,
) -> None:
    callbacks, sending = await stream(cluster, "gateway-kill")
    callbacks.pause = 0.0  # keep requests in flight when the gateway dies

    await callbacks.until(TOTAL // 3)
    [gateway] = [p for p in cluster.running() if p.name == "gateway"]
    cluster.kill(gateway)
    await asyncio.sleep(0.5)
    await asyncio.to_thread(cluster.start_gateway)  # same port: where the callbacks go

    await settled(cluster, callbacks, sending)
    unanswered = sum(n for answer, n in callbacks.tally.answers.items() if not answer.isdigit())
    assert unanswered > 0, callbacks.tally  # some callbacks were in flight when it died


async def test_a_locked_store_delays_and_loses_nothing(cluster: Cluster) -> None:
    callbacks, sending = await stream(cluster, "store-lock")

    await callbacks.until(TOTAL // 3)
    holder = sqlite3.connect(cluster.data_dir / SQLITE_FILE, timeout=30, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    await asyncio.sleep(6.0)
    holder.execute("ROLLBACK")
    holder.close()

    await settled(cluster, callbacks, sending)
    assert callbacks.tally.answers["503"] > 0, callbacks.tally
    assert set(callbacks.tally.retry_after) <= {str(n) for n in range(1, 61)}


async def test_a_dropped_broker_connection_recovers_with_one_warning_per_process(
    cluster: Cluster,
) -> None:
    callbacks, sending = await stream(cluster, "connection-drop")

    await callbacks.until(TOTAL // 3)
    dropped = await asyncio.to_thread(cluster.drop_connections)
    assert dropped == len(cluster.running())  # one connection per process

    await settled(cluster, callbacks, sending)
    for process in cluster.running():
        assert process.lines("error") == [], process.name
        lost = [line for line in process.lines("warning") if "connection lost" in line]
        back = [line for line in process.lines("info") if "connection back" in line]
        assert (len(lost), len(back)) == (1, 1), (process.name, process.lines("warning"))
