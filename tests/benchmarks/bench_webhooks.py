"""Webhook to durable: latency of job events POSTed to the embedded system at fixed rates.

``pipelinejobs up --port 0`` runs as a subprocess (SQLite, the in-process bus, everything in one
process), with 200 running jobs seeded through the Store port before it starts. A load generator
(aiohttp, open loop) POSTs the documented JSON event ``{"uuid", "name": "update", "token",
"data"}`` with a Bearer token to ``/actors/v2/jobs-manager/messages`` at 100, 250, 500, 750 and
1,000 requests/s, then higher (1,500, 2,000) while p99 stays under 100 ms, each rate for 5 s
(``BENCH_QUICK``: 20 and 50 req/s for 1 s). A request's latency runs from the moment it was
scheduled to be sent to its reply, so a server (or client) falling behind is counted, not hidden;
the reply comes once the message is durable (execution recorded, message published). Before
each rate the backlog of the previous one is applied (its last execution COMPLETE).

The load generator shares the machine's cores with the server it measures.
"""

from __future__ import annotations

import asyncio
import importlib.util
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import (
    Row,
    clean_environment,
    command,
    met,
    output,
    percentile,
    quick,
    skipped,
    start,
    stop,
    wait_for_output,
)
from pipelinejobs.host.bootstrap import build_system
from pipelinejobs.settings import Settings
from seeding import job_uuids, seed_running_jobs

JOBS = 10 if quick() else 200
FIXED_RATES = (20, 50) if quick() else (100, 250, 500, 750, 1000)
HIGHER_RATES = () if quick() else (1500, 2000)
DURATION = 1.0 if quick() else 5.0
DRAIN_LIMIT = 120.0
UP_BANNER = "pipelinejobs is up at "
TOKEN_LINE = "export PIPELINEJOBS_TOKEN="


async def seed(data: Path) -> dict[str, str]:
    """Running jobs in the data directory; their update tokens (the secrets are made here and
    found there by ``pipelinejobs up``)."""
    system = build_system(Settings(data_dir=data), actors=[])
    await system.store.start()
    jobs = job_uuids(JOBS, "webhooks")
    await seed_running_jobs(system.store, jobs)
    await system.store.close()
    return {job: system.update_tokens.issue(job) for job in jobs}


def banner_value(text: str, prefix: str) -> str:
    for line in text.splitlines():
        if line.startswith(prefix):
            return line.removeprefix(prefix).strip()
    raise RuntimeError(f"no {prefix!r} line in the banner:\n{text}")


async def at_rate(
    session: Any, url: str, bearer: str, tokens: dict[str, str], rate: int
) -> tuple[list[float], int, float, str | None]:
    """Latencies (ms) of the accepted requests, how many were not accepted, the rate achieved
    and the last execution id."""
    loop = asyncio.get_running_loop()
    jobs = list(tokens)
    count = max(1, int(rate * DURATION))
    endpoint = f"{url}/actors/v2/jobs-manager/messages"
    headers = {"Authorization": f"Bearer {bearer}"}

    async def one(n: int, scheduled: float) -> tuple[float, int, str | None]:
        job = jobs[n % len(jobs)]
        event = {"uuid": job, "name": "update", "token": tokens[job], "data": {"n": n}}
        try:
            async with session.post(endpoint, json=event, headers=headers) as response:
                body = await response.json(content_type=None)
                status = response.status
        except Exception:
            return (loop.time() - scheduled) * 1000, 0, None
        execution = body.get("result", {}).get("executionId") if status == 200 else None
        return (loop.time() - scheduled) * 1000, status, execution

    begin = loop.time() + 0.05
    tasks = []
    for n in range(count):
        scheduled = begin + n / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n, scheduled)))
    results = await asyncio.gather(*tasks)
    elapsed = loop.time() - begin
    accepted = [latency for latency, status, _ in results if status == 200]
    executions = [execution for _, _, execution in results if execution]
    return accepted, count - len(accepted), count / elapsed, executions[-1] if executions else None


async def drain(session: Any, url: str, bearer: str, execution: str | None) -> None:
    """Until the execution (the last one accepted) is applied, so the next rate starts idle."""
    if execution is None:
        return
    deadline = time.monotonic() + DRAIN_LIMIT
    headers = {"Authorization": f"Bearer {bearer}"}
    address = f"{url}/actors/v2/jobs-manager/executions/{execution}"
    while time.monotonic() < deadline:
        async with session.get(address, headers=headers) as response:
            body = await response.json(content_type=None)
        if body.get("result", {}).get("status") in ("COMPLETE", "ERROR"):
            return
        await asyncio.sleep(0.2)
    print(f"  the backlog was not applied within {DRAIN_LIMIT:.0f} s; going on", flush=True)


async def run() -> list[Row]:
    if importlib.util.find_spec("aiohttp") is None:
        return skipped("webhooks", "aiohttp not installed: pip install -e '.[bench]'")
    import aiohttp

    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        data = tmp / "data"
        tokens = await seed(data)
        environment = clean_environment(PIPELINEJOBS_LOG_JSON="true")
        up = start(command("up", "--port", "0", "--data-dir", str(data)), tmp, "up", environment)
        try:
            await asyncio.to_thread(wait_for_output, up, tmp, "up", TOKEN_LINE)
            url = banner_value(output(tmp, "up"), UP_BANNER)
            bearer = banner_value(output(tmp, "up"), TOKEN_LINE)

            def session() -> aiohttp.ClientSession:
                # A new pool per rate: the server closes connections left idle (keep-alive
                # timeout) while the previous rate's backlog drains.
                return aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=256),
                    timeout=aiohttp.ClientTimeout(total=60),
                )

            async with session() as client:
                await at_rate(client, url, bearer, tokens, 20)  # warm up the server's code
            held, previous_held = 0, True
            for rate in (*FIXED_RATES, *HIGHER_RATES):
                if rate in HIGHER_RATES and not previous_held:
                    break  # the rate below was not held: higher ones are not measured
                async with session() as client:
                    latencies, refused, achieved, last = await at_rate(
                        client, url, bearer, tokens, rate
                    )
                p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
                previous_held = refused == 0 and p99 < 100 and achieved >= rate * 0.95
                if previous_held:
                    held = max(held, rate)
                rows.append(
                    {
                        "case": f"{rate:,} req/s",
                        "sent": len(latencies) + refused,
                        "not accepted": refused,
                        "achieved req/s": round(achieved, 1),
                        "p50 ms": round(p50, 1),
                        "p99 ms": round(p99, 1),
                        "max ms": round(max(latencies, default=float("nan")), 1),
                    }
                )
                print(f"  {rate} req/s: p50 {p50:.1f} ms, p99 {p99:.1f} ms", flush=True)
                async with session() as client:
                    await drain(client, url, bearer, last)
        finally:
            await asyncio.to_thread(stop, [up])
    at_500 = next((row["p99 ms"] for row in rows if row["case"] == "500 req/s"), None)
    rows.append(
        {
            "case": "p99 at 500 req/s",
            "p99 ms": at_500,
            "target": "< 50 ms",
            "met": met(at_500, 50, at_least=False),
        }
    )
    rows.append(
        {
            "case": "highest rate with p99 < 100 ms",
            "achieved req/s": held or None,
            "target": ">= 1,000 req/s",
            "met": met(held, 1000, at_least=True),
        }
    )
    return rows
