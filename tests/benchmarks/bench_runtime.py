"""The runtime and the bus against their bare parts, measured side by side in one process.

- runtime: job events applied through runtime + in-process bus + SQLite (execution records,
  decoding, authorization, state machine) vs. the bare atomic append in the same store.
- publish: persistent messages with pipelined publisher confirms (our bus) vs. awaiting each
  confirm before the next publish (the naive way); skipped, and said so, without RabbitMQ.
"""

from __future__ import annotations

import tempfile
import time
import uuid as uuidlib
from collections.abc import Awaitable, Callable
from pathlib import Path

from harness import AMQP_URL, Row, rabbitmq_unreachable, ratio, sized, skipped
from pipelinejobs.actors.jobs_manager import JobsManager
from pipelinejobs.application.ledger import history_event
from pipelinejobs.bus.port import Envelope
from pipelinejobs.host.bootstrap import build_system
from pipelinejobs.settings import Settings
from pipelinejobs.storage.local import LocalStorage
from seeding import DOMAIN, job_uuids, seed_running_jobs


async def timed_async(function: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await function()
    return time.perf_counter() - start


def row(case: str, ours: float, baseline: float, unit: str) -> Row:
    return {
        "case": case,
        "ours s": round(ours, 4),
        "baseline s": round(baseline, 4),
        "ratio": ratio(ours, baseline),
        "baseline is": unit,
    }


async def bench_runtime(events: int) -> Row:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        storage = LocalStorage(data / "storage")
        system = build_system(
            Settings(data_dir=data), actors=[JobsManager(storage)], storage=storage
        )
        await system.start()
        job, bare = job_uuids(2, "runtime")
        await seed_running_jobs(system.store, [job, bare])
        token = system.update_tokens.issue(job)

        async def through_runtime() -> None:
            ids = [
                await system.send(
                    "jobs-manager",
                    {"uuid": job, "name": "update", "token": token, "data": {"n": n}},
                )
                for n in range(events)
            ]
            await system.wait(ids[-1], within=600)

        async def bare_appends() -> None:
            for n in range(events):
                current = await system.store.get_document("jobs", bare)
                assert current is not None
                await system.store.append_event(
                    "jobs",
                    bare,
                    expected_version=current.version,
                    event=history_event("update", {"n": n}, domain=DOMAIN),
                    changes={"last_event": "update"},
                    message_id=f"bare-{n}",
                )

        ours = await timed_async(through_runtime)
        baseline = await timed_async(bare_appends)
        await system.close()
    return row("runtime", ours, baseline, f"bare store append ({events:,} events, SQLite)")


async def bench_publish(messages: int) -> list[Row]:
    reason = await rabbitmq_unreachable()
    if reason is not None:
        return skipped("publish", reason)
    namespace = f"bench-{uuidlib.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), amqp_url=AMQP_URL, bus_namespace=namespace)
        system = build_system(settings, actors=[JobsManager(LocalStorage(settings.data_dir))])
        await system.bus.start()
        envelopes = [
            Envelope(actor="jobs-manager", body=b"{}", message_id=str(n), partition_key=str(n % 97))
            for n in range(messages)
        ]
        ours = await timed_async(lambda: system.bus.publish(envelopes))

        async def one_by_one() -> None:
            for envelope in envelopes:
                await system.bus.publish([envelope])

        baseline = await timed_async(one_by_one)
        await system.bus.delete_topology()  # type: ignore[attr-defined]
        await system.bus.close()
    return [row("publish", ours, baseline, f"confirm-each ({messages:,} persistent messages)")]


async def run() -> list[Row]:
    return [
        await bench_runtime(sized(1000, 20)),
        *await bench_publish(sized(2000, 50)),
    ]
