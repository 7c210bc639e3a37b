"""Benchmarks, each a ratio against a baseline measured in the same process and run.

Absolute timings depend on the machine; ratios say what our design costs or saves relative to
the simplest thing that does the same job. Run with ``make bench`` (RabbitMQ must answer for
the publish benchmark; it is skipped, and said so, when it does not).

- publish: 2,000 persistent messages with pipelined publisher confirms (our bus) vs. awaiting
  each confirm before the next publish (the naive way).
- runtime: job events applied through runtime + in-process bus + SQLite (execution records,
  decoding, authorization, state machine) vs. the bare atomic append in the same store.
- validation: schema validation of the documentation's finish event vs. ``json.loads`` of it.
- transition: the state machine's ``transition`` vs. a plain dict lookup.
- keepalive (``bench_keepalive.py``): a request over a kept-alive connection to the gateway's
  listening socket vs. one made without TCP_NODELAY (the 45 ms delayed-ACK stall it fixed).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
import uuid as uuidlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import aio_pika
from pipelinejobs.actors.jobs_manager import JobsManager
from pipelinejobs.application.ledger import history_event
from pipelinejobs.bus.port import Envelope
from pipelinejobs.domain.identifiers import UUIDType, typed_uuid
from pipelinejobs.domain.states import transition
from pipelinejobs.host.bootstrap import build_system
from pipelinejobs.logs import configure_logging
from pipelinejobs.messages.schemas import registry
from pipelinejobs.settings import Settings
from pipelinejobs.storage.local import LocalStorage

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def timed(function: Callable[[], object], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        function()
    return time.perf_counter() - start


async def timed_async(function: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await function()
    return time.perf_counter() - start


def report(name: str, ours: float, baseline: float, unit: str) -> None:
    ratio = ours / baseline
    print(f"{name:<11} ours {ours:9.4f} s  baseline {baseline:9.4f} s  ratio {ratio:7.2f}  {unit}")


def bench_validation() -> None:
    document = {
        "uuid": "1073f4ff-c2b9-5190-bd9a-e6a406d9796a",
        "name": "finish",
        "token": "0dc73dc3ff39b49a",
    }
    text = json.dumps(document)
    schemas = registry()
    schemas.validate(document, "pipelinejob_manager_event")
    ours = timed(lambda: schemas.validate(json.loads(text), "pipelinejob_manager_event"), 5000)
    baseline = timed(lambda: json.loads(text), 5000)
    report("validation", ours, baseline, "x json.loads (5,000 finish events)")


def bench_transition() -> None:
    table = {("RUNNING", "finish"): "FINISHED"}
    ours = timed(lambda: transition("RUNNING", "finish"), 100_000)
    baseline = timed(lambda: table[("RUNNING", "finish")], 100_000)
    report("transition", ours, baseline, "x dict lookup (100,000 transitions)")


async def bench_runtime(events: int = 1000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        storage = LocalStorage(data / "storage")
        system = build_system(
            Settings(data_dir=data), actors=[JobsManager(storage)], storage=storage
        )
        await system.start()
        job = typed_uuid("bench job", UUIDType.PIPELINEJOB)
        bare = typed_uuid("bench bare job", UUIDType.PIPELINEJOB)
        for uuid in (job, bare):
            first = [history_event(n, {}, domain="sd2e.org") for n in ("create", "run")]
            await system.store.create_document(
                "jobs",
                {
                    "uuid": uuid,
                    "state": "RUNNING",
                    "history": first,
                    "archive_path": "/products/v2/b",
                    "archive_system": "s",
                    "archive_patterns": [],
                    "last_event": "run",
                    "updated": "",
                },
                message_id=f"create-{uuid}",
            )
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
                    event=history_event("update", {"n": n}, domain="sd2e.org"),
                    changes={"last_event": "update"},
                    message_id=f"bare-{n}",
                )

        ours = await timed_async(through_runtime)
        baseline = await timed_async(bare_appends)
        await system.close()
    report("runtime", ours, baseline, f"x bare store append ({events:,} events, SQLite)")


async def bench_publish(messages: int = 2000) -> None:
    try:
        connection = await aio_pika.connect(AMQP_URL, timeout=5)
    except Exception as exc:
        print(f"publish     skipped: RabbitMQ not reachable at {AMQP_URL} ({exc})")
        return
    await connection.close()
    namespace = f"bench-{uuidlib.uuid4().hex[:8]}"
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp()), amqp_url=AMQP_URL, bus_namespace=namespace
    )
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
    report("publish", ours, baseline, f"x confirm-each ({messages:,} persistent messages)")


async def main() -> None:
    configure_logging("WARNING", json_lines=False)
    print(f"pipelinejobs benchmarks (python {sys.version.split()[0]}); ratio < 1 is faster")
    bench_transition()
    bench_validation()
    await bench_runtime()
    await bench_publish()
    await bench_keepalive()


async def bench_keepalive() -> None:
    import bench_keepalive  # beside this file: the script's directory is on sys.path

    for row in await bench_keepalive.run():
        report(
            "keepalive", row["ours"] / 1000, row["baseline"] / 1000, f"x old socket ({row['case']})"
        )


if __name__ == "__main__":
    asyncio.run(main())
