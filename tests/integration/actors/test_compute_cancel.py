"""A launched job that fails or is reset has its compute job cancelled: the jobs-manager asks
the agave-proxy, which stops the compute job its launch recorded (on the local execution
system, a real app process)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from pipelinejobs.application.catalog import load_catalog
from pipelinejobs.compute.local import LocalExecutionSystem, RetryPolicy
from pipelinejobs.domain.derived_ids import follow_up_message_id
from pipelinejobs.domain.executions import execution_id_for
from pipelinejobs.host.bootstrap import System
from pipelinejobs.storage.local import LocalStorage
from stored_pipelines import add_pipeline

CATALOG = Path(__file__).parents[2] / "fixtures" / "catalog.json"
SLEEPER = "sleeper-1.0"
SLEEPER_APP = {
    "id": SLEEPER,
    "version": "1.0",
    "command": ["{python}", "-c", "import time; print('started', flush=True); time.sleep(600)"],
}
LIMIT = 60.0


async def cancelling_system(
    make_system: Any, tmp_path: Path, bus: str = "embedded"
) -> tuple[System, LocalExecutionSystem]:
    """The four actors on a local execution system that has an app running until stopped."""
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / f"{SLEEPER}.json").write_text(json.dumps(SLEEPER_APP))
    compute = LocalExecutionSystem(
        apps,
        LocalStorage(tmp_path / "compute-storage"),
        work_dir=tmp_path / "work",
        archive_system_default="data-sd2e-community",
        notify_retry=RetryPolicy(0.05, 0.1, horizon=0.5),  # no gateway listens in this test
    )
    system = await make_system(bus=bus, compute=compute)
    await load_catalog(system.store, json.loads(CATALOG.read_text()), domain="sd2e.org")
    await add_pipeline(system, [{"id": SLEEPER, "inputs": [], "parameters": []}], name="Sleeper")
    return system, compute


async def launched(system: System, compute: LocalExecutionSystem) -> dict[str, Any]:
    """The launch reply (uuid, token, job_id) of a job whose app is running."""
    launch = {
        "parameters": {"sample_id": "sample.tacc.abcde"},
        "job_definition": {"appId": SLEEPER, "name": "sleeps"},
        "data": {"run": time.time_ns()},
    }
    execution = await system.wait(await system.send("agave-proxy", launch))
    assert execution["status"] == "COMPLETE", execution["error"]
    reply: dict[str, Any] = execution["result"]
    async with asyncio.timeout(LIMIT):
        while True:  # the app runs on its own; its status is read, not signalled
            if (await compute.status(reply["job_id"])).status == "RUNNING":
                return reply
            await asyncio.sleep(0.05)


async def event(system: System, job: dict[str, Any], name: str, token: str) -> dict[str, Any]:
    document = {"uuid": job["uuid"], "name": name, "token": token, "data": {"why": "test"}}
    execution = await system.wait(await system.send("jobs-manager", document))
    assert execution["status"] == "COMPLETE", execution["error"]
    return execution


async def follow_up(system: System, execution: dict[str, Any]) -> dict[str, Any]:
    """The agave-proxy's execution of the one follow-up the event's handling sent."""
    return await system.wait(execution_id_for(follow_up_message_id(execution["message_id"], 1)))


async def test_fail_stops_the_compute_job_its_launch_recorded(
    make_system: Any, bus_backend: str, tmp_path: Path
) -> None:
    system, compute = await cancelling_system(make_system, tmp_path, bus_backend)
    job = await launched(system, compute)

    failed = await event(system, job, "fail", job["token"])
    cancelled = await follow_up(system, failed)

    assert failed["result"]["state"] == "FAILED"
    assert failed["result"]["cancelling"] == job["job_id"]
    assert cancelled["actor"] == "agave-proxy"
    assert cancelled["status"] == "COMPLETE", cancelled["error"]
    assert cancelled["result"] == {
        "uuid": job["uuid"],
        "job_id": job["job_id"],
        "compute_status": "STOPPED",
    }
    assert (await compute.status(job["job_id"])).status == "STOPPED"


async def test_reset_asks_again_and_an_ended_compute_job_is_left_as_it_is(
    make_system: Any, tmp_path: Path
) -> None:
    system, compute = await cancelling_system(make_system, tmp_path)
    job = await launched(system, compute)
    await follow_up(system, await event(system, job, "fail", job["token"]))

    reset = await event(system, job, "reset", system.admin_tokens.issue(time.time()))
    again = await follow_up(system, reset)

    assert reset["result"]["cancelling"] == job["job_id"]
    assert again["status"] == "COMPLETE", again["error"]
    assert again["result"]["compute_status"] == "STOPPED"


async def test_a_job_that_never_ran_on_a_compute_service_cancels_nothing(
    make_system: Any, tmp_path: Path
) -> None:
    system, _ = await cancelling_system(make_system, tmp_path)
    pipeline = (await system.store.find_documents("pipelines", {}, limit=1))[0].uuid
    create = {"action": "create", "pipeline_uuid": pipeline, "sample_id": "sample.tacc.abcde"}
    created = await system.wait(await system.send("jobs-manager", create))
    job = created["result"]

    failed = await event(system, job, "fail", job["token"])

    assert failed["result"]["state"] == "FAILED"
    assert "cancelling" not in failed["result"]


async def test_a_cancel_request_must_name_a_compute_job_of_that_job_with_its_token(
    make_system: Any, tmp_path: Path
) -> None:
    system, compute = await cancelling_system(make_system, tmp_path)
    job = await launched(system, compute)
    request = {"action": "cancel", "uuid": job["uuid"], "token": job["token"]}

    foreign = await system.wait(
        await system.send("agave-proxy", {**request, "job_id": "someone-elses-job"})
    )
    untokened = await system.wait(
        await system.send("agave-proxy", {**request, "token": "0" * 16, "job_id": job["job_id"]})
    )

    assert foreign["status"] == "ERROR"
    assert "compute job 'someone-elses-job' was not launched for job" in foreign["error"]
    assert untokened["status"] == "ERROR"
    assert "token for job" in untokened["error"]
    assert (await compute.status(job["job_id"])).status == "RUNNING"
