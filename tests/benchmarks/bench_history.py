"""Append and read latency of one job as its history grows to 10, 1,000, 10,000, 100,000 events.

The job's events are written through the Store port (``append_event``, as the actors write
them). At each size, first the p50 of ``GET /jobs/{uuid}`` over HTTP from ``pipelinejobs up``
(a subprocess serving the same data directory), then the p50 of 50 further appends through the
port. Issue 15's targets: append p50 at 100,000 events within 1.5x of that at 10; the GET under
20 ms. Growing the history has a time budget (``BENCH_HISTORY_BUDGET``, default 240 s):
a size it does not reach is reported as not reached, with how far it got.
``BENCH_QUICK``: sizes 10 and 100, 5 appends and 5 reads each.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

import httpx
from harness import (
    Row,
    clean_environment,
    command,
    met,
    output,
    percentile,
    quick,
    ratio,
    start,
    stop,
    wait_for_output,
)
from pipelinejobs.application.ledger import history_event
from pipelinejobs.host.bootstrap import build_system
from pipelinejobs.settings import Settings
from pipelinejobs.store.port import Store
from seeding import DOMAIN, SEEDED_EVENTS, grow_history, job_uuids, seed_running_jobs

SIZES = (10, 100) if quick() else (10, 1_000, 10_000, 100_000)
SAMPLES = 5 if quick() else 50
READS = 5 if quick() else 20
BUDGET = 30.0 if quick() else float(os.environ.get("BENCH_HISTORY_BUDGET", "240"))
UP_BANNER = "pipelinejobs is up at "
TOKEN_LINE = "export PIPELINEJOBS_TOKEN="


async def append_latencies(store: Store, uuid: str, samples: int) -> list[float]:
    """Milliseconds of each of ``samples`` appends to the job, one after the other."""
    current = await store.get_document("jobs", uuid)
    assert current is not None
    version, latencies = current.version, []
    for n in range(samples):
        event = history_event("update", {"sample": n}, domain=DOMAIN)
        started = time.perf_counter()
        result = await store.append_event(
            "jobs",
            uuid,
            expected_version=version,
            event=event,
            changes={"last_event": "update"},
            message_id=f"sample-{uuid}-{version}",
        )
        latencies.append((time.perf_counter() - started) * 1000)
        version = result.document.version
    return latencies


async def read_latencies(url: str, bearer: str, uuid: str, reads: int) -> tuple[list[float], int]:
    """Milliseconds of each ``GET /jobs/{uuid}``, and the size of the last reply in bytes."""
    latencies, size = [], 0
    headers = {"Authorization": f"Bearer {bearer}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:
        await client.get(f"/jobs/{uuid}")  # the connection is open before the clock runs
        for _ in range(reads):
            started = time.perf_counter()
            response = await client.get(f"/jobs/{uuid}")
            latencies.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            size = len(response.content)
    return latencies, size


def banner_value(text: str, prefix: str) -> str:
    for line in text.splitlines():
        if line.startswith(prefix):
            return line.removeprefix(prefix).strip()
    raise RuntimeError(f"no {prefix!r} line in the banner:\n{text}")


async def run() -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        data = tmp / "data"
        system = build_system(Settings(data_dir=data), actors=[])
        store = system.store
        await store.start()
        [job] = job_uuids(1, "history")
        await seed_running_jobs(store, [job])
        up = start(
            command("up", "--port", "0", "--data-dir", str(data)), tmp, "up", clean_environment()
        )
        try:
            await asyncio.to_thread(wait_for_output, up, tmp, "up", TOKEN_LINE)
            url = banner_value(output(tmp, "up"), UP_BANNER)
            bearer = banner_value(output(tmp, "up"), TOKEN_LINE)
            deadline = time.monotonic() + BUDGET
            have = SEEDED_EVENTS
            for size in SIZES:
                remaining = max(0.0, deadline - time.monotonic())
                reached = await grow_history(store, job, have=have, until=size, budget=remaining)
                if reached < size:
                    rows.append(
                        {
                            "events in the job": size,
                            "append p50 ms": None,
                            "note": f"not reached: {reached:,} events after the {BUDGET:.0f} s "
                            "budget for growing the history",
                        }
                    )
                    break
                reads, reply = await read_latencies(url, bearer, job, READS)
                appends = await append_latencies(store, job, SAMPLES)
                have = reached + SAMPLES
                rows.append(
                    {
                        "events in the job": size,
                        "append p50 ms": round(percentile(appends, 0.5), 2),
                        "append p99 ms": round(percentile(appends, 0.99), 2),
                        "GET p50 ms": round(percentile(reads, 0.5), 1),
                        "GET reply KiB": round(reply / 1024, 1),
                    }
                )
                print(f"  {size:,} events: {rows[-1]}", flush=True)
        finally:
            await asyncio.to_thread(stop, [up])
            await store.close()
    measured = {row["events in the job"]: row for row in rows if row["append p50 ms"] is not None}
    first, last = SIZES[0], SIZES[-1]
    growth = ratio(
        measured.get(last, {}).get("append p50 ms"), measured.get(first, {}).get("append p50 ms")
    )
    get_last = measured.get(last, {}).get("GET p50 ms")
    rows.append(
        {
            "events in the job": f"append p50 at {last:,} / at {first}",
            "ratio": growth,
            "target": "<= 1.5",
            "met": met(growth, 1.5, at_least=False),
        }
    )
    rows.append(
        {
            "events in the job": f"GET p50 at {last:,}",
            "GET p50 ms": get_last,
            "target": "< 20 ms",
            "met": met(get_last, 20, at_least=False),
        }
    )
    return rows
