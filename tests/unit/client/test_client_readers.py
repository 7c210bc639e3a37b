"""PipelinesClient and JobsClient over the read API and the pipelines-manager."""

from __future__ import annotations

import pytest
from client_harness import PIPELINE, Sdk
from pipelinejobs.client import (
    ExecutionFailed,
    JobsClient,
    ManagedPipelineJob,
    PipelinesClient,
    RequestRefused,
)

OTHER = {**PIPELINE, "name": "other", "components": [{"id": "other-2.0"}]}


async def test_pipelines_are_listed_read_and_counted(sdk: Sdk) -> None:
    pipelines = PipelinesClient(sdk.gateway)
    created = await pipelines.create(OTHER)

    page = await pipelines.page()
    one = await pipelines.get(created["uuid"])

    assert page["total"] == 2
    assert {p["uuid"] for p in page["items"]} == {sdk.pipeline_uuid, created["uuid"]}
    assert one["name"] == "other"
    assert one["state"] == "ACTIVE"
    assert "_id" not in one
    assert [p["uuid"] for p in await pipelines.list(limit=1, offset=1)] != [
        p["uuid"] for p in await pipelines.list(limit=1)
    ]


async def test_update_changes_fields_and_is_recorded_in_the_history(sdk: Sdk) -> None:
    pipelines = PipelinesClient(sdk.gateway)
    created = await pipelines.create(OTHER)

    reply = await pipelines.update(
        created["uuid"], {"description": "now counting"}, created["token"]
    )

    assert reply["updated"] == ["description"]
    assert (await pipelines.get(created["uuid"]))["description"] == "now counting"
    assert [e["name"] for e in await pipelines.history(created["uuid"])] == ["create", "update"]


async def test_update_with_a_wrong_token_is_refused_and_changes_nothing(sdk: Sdk) -> None:
    pipelines = PipelinesClient(sdk.gateway)
    created = await pipelines.create(OTHER)

    with pytest.raises(ExecutionFailed, match="is not valid"):
        await pipelines.update(created["uuid"], {"name": "hijacked"}, "0123456789abcdef")

    assert (await pipelines.get(created["uuid"]))["name"] == "other"


async def test_a_retired_pipeline_is_listed_as_retired(sdk: Sdk) -> None:
    pipelines = PipelinesClient(sdk.gateway)
    created = await pipelines.create(OTHER)

    await pipelines.retire(created["uuid"], created["token"])

    assert [p["uuid"] for p in await pipelines.list(state="RETIRED")] == [created["uuid"]]
    assert [p["uuid"] for p in await pipelines.list(state="ACTIVE")] == [sdk.pipeline_uuid]


async def test_an_unknown_pipeline_or_job_is_a_404(sdk: Sdk) -> None:
    with pytest.raises(RequestRefused) as pipeline:
        await PipelinesClient(sdk.gateway).get("106c46ff-8186-5756-a934-071f4497b58d")
    with pytest.raises(RequestRefused) as job:
        await JobsClient(sdk.gateway).get("107acb4d-1f93-553a-9e1c-b7b58125bc89")

    assert (pipeline.value.status, job.value.status) == (404, 404)
    assert "no job 107acb4d-1f93-553a-9e1c-b7b58125bc89" in job.value.detail


async def test_jobs_are_listed_by_state_and_pipeline(sdk: Sdk) -> None:
    waiting = ManagedPipelineJob(sdk.gateway, sdk.pipeline_uuid, sample_id="sample.tacc.abcde")
    running = ManagedPipelineJob(
        sdk.gateway, sdk.pipeline_uuid, measurement_id="measurement.tacc.3456"
    )
    await waiting.setup()
    await running.setup()
    await running.run()
    jobs = JobsClient(sdk.gateway)

    assert [j["uuid"] for j in await jobs.list(state="running")] == [running.uuid]
    assert {j["uuid"] for j in await jobs.list(pipeline_uuid=sdk.pipeline_uuid)} == {
        waiting.uuid,
        running.uuid,
    }
    assert (await jobs.page(state="CREATED"))["total"] == 1


async def test_events_are_what_the_jobs_state_accepts_next(sdk: Sdk) -> None:
    job = ManagedPipelineJob(sdk.gateway, sdk.pipeline_uuid, sample_id="sample.tacc.abcde")
    await job.setup()
    jobs = JobsClient(sdk.gateway)

    created = await jobs.events(job.uuid or "")
    await job.run()
    await job.finish()

    assert created == ["create", "run", "update", "resource", "fail", "reset"]
    assert await jobs.events(job.uuid or "") == [
        "finish",
        "index",
        "indexed",
        "validate",
        "retire",
        "reset",
    ]


async def test_next_events_explain_where_each_event_leads(sdk: Sdk) -> None:
    job = ManagedPipelineJob(sdk.gateway, sdk.pipeline_uuid, sample_id="sample.tacc.abcde")
    await job.setup()
    await job.run()

    accepted = await JobsClient(sdk.gateway).next_events(job.uuid or "")

    assert (accepted["uuid"], accepted["state"]) == (job.uuid, "RUNNING")
    assert accepted["state_description"] == "actively processing"
    assert [row["event"] for row in accepted["events"]] == await JobsClient(sdk.gateway).events(
        job.uuid or ""
    )
    assert {"event": "fail", "leads_to": "FAILED", "description": "permanently mark as failed"} in (
        accepted["events"]
    )


async def test_history_reads_every_event_over_the_pages(sdk: Sdk) -> None:
    job = ManagedPipelineJob(sdk.gateway, sdk.pipeline_uuid, sample_id="sample.tacc.abcde")
    await job.setup()
    stored = await sdk.system.store.get_document("jobs", job.uuid or "")
    assert stored is not None
    for number in range(1, 1204):  # more than one events page, more than the embedded bound
        await sdk.system.store.append_event(
            "jobs",
            stored.uuid,
            expected_version=number,
            event={"uuid": f"e-{number}", "name": "update", "date": "d", "data": {"n": number}},
            changes={},
            message_id=f"m-{number}",
        )
    history = await JobsClient(sdk.gateway).history(stored.uuid)
    assert len(history) == 1204
    assert [event["data"] for event in history[1:3]] == [{"n": 1}, {"n": 2}]
    assert history[-1] == {"uuid": "e-1203", "name": "update", "date": "d", "data": {"n": 1203}}
