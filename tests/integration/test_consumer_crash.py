"""Killing a consumer process mid-message loses nothing: the broker redelivers the message to
another consumer, which applies it exactly once (issue 3, faults), whether the process died
before its event was written or after (written, not yet acked)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid as uuidlib
from pathlib import Path
from typing import Any

import pytest
from pipelinejobs.application.ledger import history as stored_history
from pipelinejobs.application.ledger import history_event
from pipelinejobs.domain.identifiers import UUIDType, typed_uuid

pytestmark = pytest.mark.rabbitmq

SCRIPT = Path(__file__).with_name("consumer_process.py")
JOB = typed_uuid("consumer crash job", UUIDType.PIPELINEJOB)


async def read_until(process: Any, prefix: str, within: float = 60.0) -> str:
    async def read() -> str:
        while True:
            line = (await process.stdout.readline()).decode()
            if not line:
                raise AssertionError(f"consumer exited before printing {prefix!r}")
            if line.startswith(prefix):
                return line.strip()

    return await asyncio.wait_for(read(), within)


async def start_consumer(data_dir: Path, namespace: str, delay: float, when: str) -> Any:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        str(data_dir),
        namespace,
        str(delay),
        when,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    await read_until(process, "ready")
    return process


@pytest.mark.parametrize("killed", ["before", "after"])
async def test_a_killed_consumer_loses_nothing_and_the_event_applies_once(
    make_system: Any, tmp_path: Path, killed: str
) -> None:
    namespace = f"test-{uuidlib.uuid4().hex[:12]}"
    data_dir = tmp_path / "shared"
    sender = await make_system(
        bus="rabbitmq", data_dir=data_dir, bus_namespace=namespace, aliases=[]
    )
    events = [history_event(name, {}, domain="sd2e.org") for name in ("create", "run")]
    await sender.store.create_document(
        "jobs",
        {
            "uuid": JOB,
            "state": "RUNNING",
            "last_event": "run",
            "history": events,
            "archive_path": "/products/v2/x",
            "archive_system": "data-sd2e-community",
            "archive_patterns": [],
            "updated": events[-1]["date"],
        },
        message_id="create",
    )
    doomed = await start_consumer(data_dir, namespace, delay=30.0, when=killed)
    try:
        execution_id = await sender.send(
            "jobs-manager",
            {"uuid": JOB, "name": "finish", "token": sender.update_tokens.issue(JOB)},
        )
        await read_until(doomed, "handling" if killed == "before" else "applied")
        doomed.send_signal(signal.SIGKILL)  # mid-message: nothing acked
        await doomed.wait()
        job = await sender.store.get_document("jobs", JOB)
        assert job is not None
        assert job.body["state"] == ("RUNNING" if killed == "before" else "FINISHED")

        survivor = await start_consumer(data_dir, namespace, delay=0.0, when="before")
        try:
            execution = await sender.wait(execution_id, within=60)
        finally:
            survivor.send_signal(signal.SIGTERM)
            await survivor.wait()
    finally:
        if doomed.returncode is None:
            doomed.kill()
    assert execution["status"] == "COMPLETE", execution["error"]
    job = await sender.store.get_document("jobs", JOB)
    assert job is not None
    events = await stored_history(sender.store, "jobs", JOB)
    assert [event["name"] for event in events] == ["create", "run", "finish"]
    assert job.body["state"] == "FINISHED"
