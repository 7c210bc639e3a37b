"""SIGTERM on a real actor process, as the kubelet sends it when a pod stops: the process stops
taking deliveries, lets the ones in flight finish, and exits 0 within the pod's grace period; what
it had not finished is redelivered to the next consumer, and every message has its effect once.

The actor is ``pipelinejobs actor pipelines-manager`` on the test RabbitMQ (a namespace of its
own) and a SQLite store shared with this test, which queues the messages before it starts and
counts their outcomes.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from deployfiles import kustomize_build, pod_spec
from pipelinejobs.domain.actors import ACTOR_ALIASES
from pipelinejobs.host.bootstrap import System, build_system
from pipelinejobs.settings import Settings

pytestmark = pytest.mark.rabbitmq

AMQP_URL = os.environ.get("PIPELINEJOBS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
MESSAGES = 150
LIMIT = 120.0


def grace_period() -> float:
    """The actors' terminationGracePeriodSeconds in deploy/k8s."""
    [deployment] = [
        r
        for r in kustomize_build()
        if r["kind"] == "Deployment" and r["metadata"]["name"] == "pipelines-manager"
    ]
    spec = pod_spec(deployment)
    assert spec is not None
    return float(spec["terminationGracePeriodSeconds"])


@pytest.fixture
async def sender(tmp_path: Path) -> AsyncIterator[System]:
    """A system that consumes nothing: it queues messages and reads the shared store."""
    settings = Settings(
        data_dir=tmp_path / "data",
        amqp_url=AMQP_URL,
        bus_namespace=f"deploy-stop-{uuid.uuid4().hex[:12]}",
        token_keys=[secrets.token_hex(32)],
        admin_key=secrets.token_hex(32),
        jwt_secret=secrets.token_hex(32),
        log_json=True,
    )
    system = build_system(settings, actors=[])
    await system.start(aliases=[])
    yield system
    await system.close()
    from pipelinejobs.bus.rabbitmq import RabbitMQBus

    await RabbitMQBus(
        AMQP_URL, namespace=settings.bus_namespace, actors=ACTOR_ALIASES
    ).delete_topology()


def environment(settings: Settings) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINEJOBS_")}
    values.update(
        PIPELINEJOBS_AMQP_URL=AMQP_URL,
        PIPELINEJOBS_BUS_NAMESPACE=settings.bus_namespace,
        PIPELINEJOBS_DATA_DIR=str(settings.data_dir),
        PIPELINEJOBS_TOKEN_KEYS=json.dumps([k.get_secret_value() for k in settings.token_keys]),
        PIPELINEJOBS_ADMIN_KEY=settings.admin_key.get_secret_value() if settings.admin_key else "",
        PIPELINEJOBS_JWT_SECRET=settings.jwt_secret.get_secret_value()
        if settings.jwt_secret
        else "",
        PIPELINEJOBS_LOG_JSON="true",
        PIPELINEJOBS_HEALTH_PORT="0",
    )
    return values


def start_actor(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    script = Path(sys.executable).with_name("pipelinejobs")
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(script), "actor", "pipelines-manager"],
            env=environment(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def statuses(system: System, execution_ids: list[str]) -> list[str]:
    found = [await system.store.get_execution(e) for e in execution_ids]
    return [e["status"] if e else "QUEUED" for e in found]


async def wait_for(system: System, execution_ids: list[str], enough: int, log: Path) -> int:
    deadline = time.monotonic() + LIMIT
    while True:
        done = (await statuses(system, execution_ids)).count("COMPLETE")
        if done >= enough:
            return done
        if time.monotonic() > deadline:
            output = await asyncio.to_thread(log.read_text)
            raise AssertionError(f"{done}/{enough} complete after {LIMIT} s:\n{output}")
        await asyncio.sleep(0.02)


async def sigterm(process: subprocess.Popen[bytes], grace: float) -> tuple[int | None, float]:
    """SIGTERM, then up to ``grace`` seconds for the exit; (exit code or None, seconds taken)."""
    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = await asyncio.to_thread(process.wait, grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None, grace
    return code, time.monotonic() - began


async def test_sigterm_finishes_or_hands_back_the_work_in_flight_and_exits_0_in_time(
    sender: System, tmp_path: Path
) -> None:
    grace = grace_period()
    execution_ids = [
        await sender.send(
            "pipelines-manager",
            {"name": f"stop {n}", "components": [{"id": f"stop-app-{n}"}]},
        )
        for n in range(MESSAGES)
    ]
    first_log = tmp_path / "first.log"
    first = start_actor(sender.settings, first_log)
    try:
        await wait_for(sender, execution_ids, 1, first_log)
        code, took = await sigterm(first, grace)
    finally:
        if first.poll() is None:
            first.kill()
    assert code == 0, f"exit {code} after {took:.1f} s (grace {grace} s):\n{first_log.read_text()}"
    assert took < grace
    after_stop = await statuses(sender, execution_ids)
    assert after_stop.count("COMPLETE") < MESSAGES, "the stop came after all the work"

    second_log = tmp_path / "second.log"
    second = start_actor(sender.settings, second_log)
    try:
        await wait_for(sender, execution_ids, MESSAGES, second_log)
        code, _ = await sigterm(second, grace)
    finally:
        if second.poll() is None:
            second.kill()
    assert code == 0, second_log.read_text()
    assert await sender.store.count_documents("pipelines") == MESSAGES, "each one's effect once"
