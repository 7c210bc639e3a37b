"""Job ``update`` events per second through one consumer process, ours against two baselines.

5,000 ``update`` events over 200 running jobs (``BENCH_QUICK``: 100 over 10), published with
confirms in batches of 500, each job's events in order; the clock runs from the first publish to
the last event applied. All on RabbitMQ and SQLite (WAL, ``synchronous=FULL``), each variant in
its own processes, queues and database, started before the clock:

- pipeline x1, x2: ``pipelinejobs actor jobs-manager`` processes (one, then two sharing the
  partitions) behind the runtime, as deployed; applied = the last event of every job has its
  execution COMPLETE.
- bare: a plain aio-pika consumer (``bare_consumer.py``) making the same conditional durable
  write (``conditional_write``), one transaction and one ack per message.
- celery: a Celery worker (solo pool, one process, prefetch 16) running an ``acks_late`` task
  that makes the same write; skipped, and said so, when the ``[bench]`` extra is not installed.

Rounds are interleaved (x1, x2, bare, celery, then again; ``BENCH_ROUNDS``, default 3) and the
median of each is reported, with the targets of issue 15 beside the ratios.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
import tempfile
import time
import uuid as uuidlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aio_pika
import conditional_write
from harness import (
    AMQP_URL,
    HERE,
    Row,
    clean_environment,
    command,
    median,
    met,
    quick,
    rabbitmq_unreachable,
    sized,
    skipped,
    start,
    stop,
    wait_for_output,
)
from pipelinejobs.actors.jobs_manager import JobsManager
from pipelinejobs.bus.port import Envelope
from pipelinejobs.domain.executions import execution_id_for
from pipelinejobs.host.bootstrap import build_system
from pipelinejobs.settings import Settings
from pipelinejobs.storage.local import LocalStorage
from seeding import job_uuids, seed_running_jobs

EVENTS = sized(5000, 100)
JOBS = sized(200, 10)
ROUNDS = 1 if quick() else int(os.environ.get("BENCH_ROUNDS", "3"))
BATCH = 500
STALL = 120.0  # seconds without progress after which a round is reported as stuck
POLL = 0.02


def updates(jobs: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """``(message id, update document)`` for every event, the jobs interleaved, each in order."""
    per_job = EVENTS // len(jobs)
    return [
        (f"{job}-{seq}", {"uuid": job, "name": "update", "data": {"seq": seq}})
        for seq in range(per_job)
        for job in jobs
    ]


async def applied(database: Path, expected: int, what: str) -> None:
    """Until ``expected`` events are recorded; stuck when none is for ``STALL`` seconds."""
    count, last_change = -1, time.monotonic()
    while True:
        now = conditional_write.applied(database)
        if now >= expected:
            return
        if now != count:
            count, last_change = now, time.monotonic()
        elif time.monotonic() - last_change > STALL:
            raise TimeoutError(
                f"{what}: {count:,} of {expected:,} events applied, none for {STALL:.0f} s "
                "(is RabbitMQ answering?)"
            )
        await asyncio.sleep(POLL)


async def cleanly(step: Awaitable[Any], what: str) -> None:
    """A clean-up step that must not hang the run (a broker that stopped answering)."""
    try:
        await asyncio.wait_for(step, 30)
    except Exception as exc:
        print(f"  clean-up of {what} failed: {type(exc).__name__}: {exc}", flush=True)


async def published(publishing: Awaitable[Any], what: str) -> None:
    try:
        await asyncio.wait_for(publishing, STALL)
    except TimeoutError:
        raise TimeoutError(f"{what}: a publish was not confirmed within {STALL:.0f} s") from None


async def pipeline_round(consumers: int, tmp: Path) -> float:
    namespace = f"bench-{uuidlib.uuid4().hex[:10]}"
    data = tmp / namespace
    settings = Settings(data_dir=data, amqp_url=AMQP_URL, bus_namespace=namespace)
    storage = LocalStorage(data / "storage")
    publisher = build_system(settings, actors=[JobsManager(storage)], storage=storage)
    await publisher.start(aliases=[])  # declares the queues, consumes nothing
    jobs = job_uuids(JOBS, "throughput")
    await seed_running_jobs(publisher.store, jobs)
    tokens = {job: publisher.update_tokens.issue(job) for job in jobs}
    envelopes, last = [], {}
    for message_id, document in updates(jobs):
        job = document["uuid"]
        envelopes.append(
            Envelope(
                actor="jobs-manager",
                body=json.dumps(document | {"token": tokens[job]}).encode(),
                message_id=message_id,
                partition_key=job,
                headers={"execution_id": execution_id_for(message_id), "sender": "user:bench"},
            )
        )
        last[job] = execution_id_for(message_id)
    environment = clean_environment(
        PIPELINEJOBS_DATA_DIR=str(data),
        PIPELINEJOBS_AMQP_URL=AMQP_URL,
        PIPELINEJOBS_BUS_NAMESPACE=namespace,
    )
    names = [f"{namespace}-consumer-{n}" for n in range(consumers)]
    processes = [start(command("actor", "jobs-manager"), tmp, name, environment) for name in names]
    try:
        for process, name in zip(processes, names, strict=True):
            await asyncio.to_thread(wait_for_output, process, tmp, name, "actor consuming")
        if consumers > 1 and not quick():
            await asyncio.sleep(settings.bus_balance_interval * 3)  # partitions shared out
        started = time.perf_counter()
        for first in range(0, len(envelopes), BATCH):
            await published(publisher.bus.publish(envelopes[first : first + BATCH]), "pipeline")
        for execution_id in last.values():
            deadline = time.monotonic() + STALL
            while True:
                execution = await publisher.store.get_execution(execution_id)
                if execution is not None and execution["status"] == "COMPLETE":
                    break
                if execution is not None and execution["status"] == "ERROR":
                    raise RuntimeError(f"an update failed: {execution.get('error')}")
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"pipeline x{consumers}: execution {execution_id} not applied within "
                        f"{STALL:.0f} s of the one before it (is RabbitMQ answering?)"
                    )
                await asyncio.sleep(POLL)
        return len(envelopes) / (time.perf_counter() - started)
    finally:
        await asyncio.to_thread(stop, processes)
        await cleanly(publisher.bus.delete_topology(), "the queues")  # type: ignore[attr-defined]
        await cleanly(publisher.close(), "the publisher")


async def bare_round(tmp: Path) -> float:
    queue_name = f"bench-{uuidlib.uuid4().hex[:10]}.bare"
    database = tmp / f"{queue_name}.sqlite"
    jobs = job_uuids(JOBS, "throughput")
    conditional_write.create(database, jobs)
    messages = updates(jobs)
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel(publisher_confirms=True)
    queue = await channel.declare_queue(queue_name, durable=True)
    process = start(
        [sys.executable, str(HERE / "bare_consumer.py"), AMQP_URL, queue_name, str(database)],
        tmp,
        queue_name,
        clean_environment(),
    )
    try:
        await asyncio.to_thread(wait_for_output, process, tmp, queue_name, "ready")
        started = time.perf_counter()
        for first in range(0, len(messages), BATCH):
            batch = asyncio.gather(
                *(
                    channel.default_exchange.publish(
                        aio_pika.Message(
                            json.dumps(document).encode(),
                            message_id=message_id,
                            content_type="application/json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        ),
                        routing_key=queue_name,
                    )
                    for message_id, document in messages[first : first + BATCH]
                )
            )
            await published(batch, "bare")
        await applied(database, len(messages), "bare")
        return len(messages) / (time.perf_counter() - started)
    finally:
        await asyncio.to_thread(stop, [process])
        await cleanly(queue.delete(if_unused=False, if_empty=False), "the queue")
        await cleanly(connection.close(), "the connection")


async def celery_round(tmp: Path) -> float:
    queue_name = f"bench-{uuidlib.uuid4().hex[:10]}.celery"
    database = tmp / f"{queue_name}.sqlite"
    jobs = job_uuids(JOBS, "throughput")
    conditional_write.create(database, jobs)
    messages = updates(jobs)
    settings = {
        "BENCH_AMQP_URL": AMQP_URL,
        "BENCH_CELERY_QUEUE": queue_name,
        "BENCH_DATABASE": str(database),
    }
    os.environ.update(settings)  # the publishing side imports celery_app with the same broker
    import celery_app

    worker = start(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "celery_app",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "-Q",
            queue_name,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=WARNING",
        ],
        tmp,
        queue_name,
        clean_environment(**settings, PYTHONPATH=str(HERE)),
    )

    def publish_all() -> None:
        with celery_app.app.producer_or_acquire() as producer:
            for message_id, document in messages:
                celery_app.app.send_task(
                    "bench.apply_update",
                    args=[document, message_id],
                    queue=queue_name,
                    producer=producer,
                )

    try:
        await asyncio.to_thread(wait_for_output, worker, tmp, queue_name, "celery-worker-ready")
        started = time.perf_counter()
        await published(asyncio.to_thread(publish_all), "celery")
        await applied(database, len(messages), "celery")
        return len(messages) / (time.perf_counter() - started)
    finally:
        await asyncio.to_thread(stop, [worker])
        await cleanly(delete_queue(queue_name), "the queue")


def shown(value: float | None, unit: str) -> float | str | None:
    if value is None:
        return None
    return round(value, 2) if unit == "x" else f"{value:+.0f}%"


async def delete_queue(name: str) -> None:
    connection = await aio_pika.connect(AMQP_URL, timeout=10)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(name)


async def run() -> list[Row]:
    reason = await rabbitmq_unreachable()
    if reason is not None:
        return skipped("throughput", reason)
    has_celery = importlib.util.find_spec("celery") is not None
    variants: dict[str, Callable[[Path], Any]] = {
        "pipeline x1": lambda tmp: pipeline_round(1, tmp),
        "pipeline x2": lambda tmp: pipeline_round(2, tmp),
        "bare aio-pika": bare_round,
    }
    if has_celery:
        variants["celery acks_late"] = celery_round
    rates: dict[str, list[float]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        for round_number in range(1, ROUNDS + 1):
            for name, variant in variants.items():
                rate = await variant(tmp)
                rates[name].append(rate)
                print(f"  round {round_number} {name}: {rate:,.0f} events/s", flush=True)
    medians = {name: median(values) for name, values in rates.items()}
    rows: list[Row] = [
        {
            "case": name,
            "events/s": round(medians[name], 1),
            "rounds": ", ".join(f"{rate:,.0f}" for rate in values),
        }
        for name, values in rates.items()
    ]
    if not has_celery:
        rows.append(
            {
                "case": "celery acks_late",
                "skipped": "celery not installed: pip install -e '.[bench]'",
            }
        )
    ours, bare = medians["pipeline x1"], medians["bare aio-pika"]
    gain = (medians["pipeline x2"] / ours - 1) * 100
    targets: list[tuple[str, float | None, float, str]] = [
        (
            "pipeline x1 / celery",
            ours / medians["celery acks_late"] if has_celery else None,
            3.0,
            "x",
        ),
        ("pipeline x1 / bare aio-pika", ours / bare, 2.0, "x"),
        ("second consumer process adds", gain, 50.0, "%"),
    ]
    rows.extend(
        {
            "case": case,
            "ratio": shown(value, unit),
            "target": f">= {limit:g}{unit}",
            "met": met(value, limit, at_least=True),
        }
        for case, value, limit, unit in targets
    )
    print(f"  {EVENTS:,} events over {JOBS} jobs, {ROUNDS} rounds, medians", flush=True)
    return rows
