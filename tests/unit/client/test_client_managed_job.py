"""ManagedPipelineJob: an agent creates its job, reports its progress, hands out callbacks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from client_harness import BASE_URL, Sdk
from pipelinejobs.client import ExecutionFailed, JobNotReady, JobsClient, ManagedPipelineJob

T = TypeVar("T")
POLL = 0.05
SAMPLE = "sample.tacc.abcde"
RECORD = {  # what an Agave job service posts to a notification URL
    "appId": "counter-1.0",
    "executionSystem": "hpc",
    "owner": "alice",
    "archivePath": "/products/x",
    "archiveSystem": "data-sd2e-community",
    "status": "RUNNING",
    "inputs": {},
    "parameters": {},
    "_links": {},
}


def job_of(sdk: Sdk, **options: Any) -> ManagedPipelineJob:
    options.setdefault("sample_id", SAMPLE)
    options.setdefault("data", {"alpha": 0.5})
    return ManagedPipelineJob(sdk.gateway, sdk.pipeline_uuid, **options)


async def settled(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], limit: float = 30.0
) -> T:
    """Probe until ``done`` (the indexer works after the reply); fail after ``limit`` s."""
    for _attempt in range(int(limit / POLL)):
        value = await probe()
        if done(value):
            return value
        await asyncio.sleep(POLL)
    raise AssertionError(f"not settled within {limit} s: {value!r}")


async def names(sdk: Sdk, uuid: str) -> list[str]:
    return [event["name"] for event in await JobsClient(sdk.gateway).history(uuid)]


async def test_setup_creates_the_job_and_keeps_its_uuid_token_and_archive_path(sdk: Sdk) -> None:
    job = job_of(sdk, session="casual-bass")

    reply = await job.setup()

    assert job.uuid is not None
    assert job.uuid.startswith("107")
    assert job.token == sdk.system.update_tokens.issue(job.uuid)
    assert job.archive_path is not None
    assert job.archive_path.startswith(f"/products/v2/{sdk.pipeline_uuid.replace('-', '')}/")
    assert (job.archive_system, job.session, job.state) == (
        "data-sd2e-community",
        "casual-bass",
        "CREATED",
    )
    assert reply["created"] is True
    assert job.archive_uri() == f"agave://data-sd2e-community{job.archive_path}"
    stored = await JobsClient(sdk.gateway).get(job.uuid)
    assert stored["data"] == {"alpha": 0.5}
    assert stored["owner"] == "user:alice"


async def test_the_same_pipeline_linkage_and_data_name_the_same_job(sdk: Sdk) -> None:
    first = job_of(sdk)
    await first.setup()
    again = job_of(sdk)

    await again.setup()

    assert again.uuid == first.uuid
    assert again.created is False
    assert again.token == first.token  # the owner sets it up again
    assert await names(sdk, first.uuid or "") == ["create"]


async def test_setup_data_is_merged_into_the_jobs_data(sdk: Sdk) -> None:
    job = job_of(sdk, data={"alpha": 0.5})

    await job.setup({"beta": 2})

    assert (await JobsClient(sdk.gateway).get(job.uuid or ""))["data"] == {"alpha": 0.5, "beta": 2}


async def test_setup_for_an_unknown_pipeline_fails_with_the_reason(sdk: Sdk) -> None:
    job = ManagedPipelineJob(sdk.gateway, "106c46ff-8186-5756-a934-071f4497b58d", sample_id=SAMPLE)

    with pytest.raises(ExecutionFailed, match="no pipeline with uuid"):
        await job.setup()
    assert job.uuid is None


async def test_events_move_the_job_and_are_recorded_with_their_data(sdk: Sdk) -> None:
    job = job_of(sdk)
    await job.setup()

    await job.run({"launched": "compute job 42"})
    await job.resource({"staging": "inputs"})
    await job.update({"progress": 0.5})
    reply = await job.finish()

    assert reply["state"] == job.state == "FINISHED"
    history = await JobsClient(sdk.gateway).history(job.uuid or "")
    assert [event["name"] for event in history] == ["create", "run", "resource", "update", "finish"]
    assert history[1]["data"] == {"launched": "compute job 42"}


async def test_an_event_the_state_does_not_accept_fails_naming_the_allowed_ones(sdk: Sdk) -> None:
    job = job_of(sdk)
    await job.setup()

    with pytest.raises(ExecutionFailed) as raised:
        await job.finish()

    assert "event 'finish' is not allowed in state CREATED" in raised.value.error
    assert "run" in raised.value.error
    assert await names(sdk, job.uuid or "") == ["create"]


async def test_a_job_with_archive_patterns_is_indexed_after_finish(sdk: Sdk) -> None:
    job = job_of(sdk, archive_patterns=[{"level": "2", "patterns": [r"\.csv$"]}])
    await job.setup()
    system = job.archive_system or ""
    await sdk.system.storage.write_bytes(system, f"{job.archive_path}/counts.csv", b"a,1\n")
    await sdk.system.storage.write_bytes(system, f"{job.archive_path}/debug.log", b"noise\n")
    await job.run()

    await job.finish()

    jobs = JobsClient(sdk.gateway)
    await settled(lambda: names(sdk, job.uuid or ""), lambda walk: walk[-1] == "indexed")
    [file] = await jobs.files(job.uuid or "")
    assert file["name"] == f"{job.archive_path}/counts.csv"
    assert file["level"] == "2"
    assert (await jobs.get(job.uuid or ""))["state"] == "FINISHED"


async def test_index_on_request_links_the_files_at_the_level_asked(sdk: Sdk) -> None:
    job = job_of(sdk)
    await job.setup()
    await sdk.system.storage.write_bytes(
        job.archive_system or "", f"{job.archive_path}/out.json", b"{}"
    )
    await job.run()
    await job.finish()

    reply = await job.index({"level": "3", "filters": [r"\.json$"]})

    assert reply["forwarded_to"] == "jobs-indexer"
    jobs = JobsClient(sdk.gateway)
    await settled(lambda: jobs.files(job.uuid or ""), bool)
    assert [
        (f["name"].rsplit("/", 1)[1], f["level"]) for f in await jobs.files(job.uuid or "")
    ] == [("out.json", "3")]


async def test_cancel_records_fail_on_a_job_that_has_not_run(sdk: Sdk) -> None:
    job = job_of(sdk)
    await job.setup()

    reply = await job.cancel()

    assert reply["state"] == "FAILED"
    history = await JobsClient(sdk.gateway).history(job.uuid or "")
    assert [event["name"] for event in history] == ["create", "fail"]
    assert history[-1]["data"] == {"cancelled": True}


async def test_cancel_refuses_a_job_that_is_running_and_records_nothing(sdk: Sdk) -> None:
    job = job_of(sdk)
    await job.setup()
    other_view = job_of(sdk)  # e.g. a compute service's callback moved the job meanwhile
    await other_view.setup()
    await other_view.run()

    with pytest.raises(JobNotReady, match="is RUNNING, and only a job still CREATED"):
        await job.cancel()

    assert await names(sdk, job.uuid or "") == ["create", "run"]


async def test_reset_needs_an_admin_token_and_leaves_the_job_ready_to_run(sdk: Sdk) -> None:
    job = job_of(sdk)
    await job.setup()
    await job.run()
    await job.fail({"reason": "out of tortillas"})

    with pytest.raises(ExecutionFailed, match="needs an admin token"):
        await job.reset(job.token or "")
    reply = await job.reset(sdk.admin_token())

    assert reply["state"] == job.state == "CREATED"
    assert await names(sdk, job.uuid or "") == ["create", "run", "fail", "reset", "ready"]


async def test_reset_without_ready_leaves_the_job_reset_until_ready(sdk: Sdk) -> None:
    job = job_of(sdk)
    await job.setup()

    await job.reset(sdk.admin_token(), ready=False)
    assert job.state == "RESET"
    await job.ready(sdk.admin_token())

    assert job.state == "CREATED"


async def test_methods_before_setup_say_to_call_setup(sdk: Sdk) -> None:
    job = job_of(sdk)

    with pytest.raises(JobNotReady, match=r"call setup\(\) first"):
        await job.run()
    with pytest.raises(JobNotReady, match=r"call setup\(\) first"):
        _ = job.callback


async def test_the_callback_carries_uuid_token_session_and_nonce(sdk: Sdk) -> None:
    job = job_of(sdk, session="eligible-awk", callback_nonce="PJ_abc")
    await job.setup()

    url = urlsplit(job.callback)

    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{BASE_URL}/actors/v2/jobs-manager/messages"
    assert parse_qs(url.query) == {
        "x-nonce": ["PJ_abc"],
        "uuid": [job.uuid],
        "token": [job.token],
        "session": ["eligible-awk"],
    }


async def test_agave_notifications_follow_the_original(sdk: Sdk) -> None:
    job = job_of(sdk)
    await job.setup()

    notifications = job.agave_notifications()

    assert [(n["event"], n["persistent"]) for n in notifications] == [
        ("RUNNING", True),
        ("FINISHED", False),
        ("FAILED", False),
    ]
    assert [n["url"].removeprefix(job.callback) for n in notifications] == [
        "&status=${JOB_STATUS}",
        "&status=FINISHED",
        "&status=${JOB_STATUS}",
    ]


async def test_a_compute_service_reports_through_the_callback_with_its_nonce(sdk: Sdk) -> None:
    nonce = await sdk.gateway.create_nonce("jobs-manager", level="EXECUTE")
    job = job_of(sdk, callback_nonce=nonce["id"])
    await job.setup()
    running, finished, _ = job.agave_notifications()

    async with httpx.AsyncClient(transport=sdk.transport) as service:  # no Bearer token
        for url, status in ((running["url"], "RUNNING"), (finished["url"], "FINISHED")):
            response = await service.post(
                url.replace("${JOB_STATUS}", status), json=RECORD | {"status": status}
            )
            assert response.status_code == 200, response.text
            await sdk.gateway.wait(  # alice owns the nonce, so she reads its executions
                "jobs-manager", response.json()["result"]["executionId"], timeout=30
            )

    assert await names(sdk, job.uuid or "") == ["create", "run", "finish"]
    assert await job.current_state() == "FINISHED"
