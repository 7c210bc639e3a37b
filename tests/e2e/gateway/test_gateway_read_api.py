"""The read API over HTTP: pipelines, jobs with history, files; paging, filters and refusals."""

from __future__ import annotations

from typing import Any

from gateway_harness import Recorder, Served, assert_problem
from pipelinejobs.application.ledger import history_event
from pipelinejobs.domain.identifiers import UUIDType, file_uuid, typed_uuid

PIPELINE = typed_uuid("gateway read pipeline", UUIDType.PIPELINE)
OTHER_PIPELINE = typed_uuid("gateway read pipeline 2", UUIDType.PIPELINE)


def job_uuid(n: int) -> str:
    return typed_uuid(f"gateway read job {n}", UUIDType.PIPELINEJOB)


async def store_pipeline(served: Served, uuid: str = PIPELINE, state: str = "ACTIVE") -> None:
    event = history_event("create", {}, domain="sd2e.org")
    body = {
        "uuid": uuid,
        "name": f"pipeline {uuid[:8]}",
        "components": [{"id": "app-0.1.0"}],
        "state": state,
        "history": [event],
        "last_event": "create",
        "created": event["date"],
        "updated": event["date"],
        "owner": "user:alice",
        "_hidden": "private",
    }
    await served.system.store.create_document("pipelines", body, message_id=f"p-{uuid}")


async def store_job(
    served: Served, n: int, *, pipeline: str = PIPELINE, state: str = "CREATED"
) -> str:
    events = [history_event("create", {"n": n}, domain="sd2e.org")]
    body = {
        "uuid": job_uuid(n),
        "pipeline_uuid": pipeline,
        "archive_path": f"/products/v2/{pipeline.replace('-', '')}/a/{n}",
        "data": {"n": n},
        "history": events,
        "last_event": "create",
        "state": state,
        "updated": events[0]["date"],
        "created": events[0]["date"],
        "owner": "user:alice",
        "_internal_note": "not for readers",
    }
    await served.system.store.create_document("jobs", body, message_id=f"j-{n}")
    return job_uuid(n)


async def get(served: Served, path: str, **params: Any) -> Any:
    response = await served.client.get(path, params=params, headers=served.bearer("reader"))
    assert response.status_code == 200, response.text
    return response.json()


async def test_pipelines_list_and_one_without_private_fields(served: Served) -> None:
    await store_pipeline(served)
    await store_pipeline(served, OTHER_PIPELINE, state="RETIRED")

    listed = await get(served, "/pipelines")
    active = await get(served, "/pipelines", state="ACTIVE")
    one = await get(served, f"/pipelines/{PIPELINE}")

    assert listed["total"] == 2
    assert {p["uuid"] for p in listed["items"]} == {PIPELINE, OTHER_PIPELINE}
    assert [p["uuid"] for p in active["items"]] == [PIPELINE]
    assert one["uuid"] == PIPELINE
    assert one["history"][0]["name"] == "create"
    assert "_hidden" not in one
    assert all("_hidden" not in p for p in listed["items"])


async def test_jobs_filtered_by_state_and_pipeline_and_paged(served: Served) -> None:
    await store_pipeline(served)
    for n in range(5):
        await store_job(served, n, state="RUNNING" if n % 2 else "CREATED")
    await store_job(served, 9, pipeline=OTHER_PIPELINE, state="RUNNING")

    running = await get(served, "/jobs", state="RUNNING", pipeline_uuid=PIPELINE)
    first = await get(served, "/jobs", limit=4, offset=0)
    rest = await get(served, "/jobs", limit=4, offset=4)

    assert running["total"] == 2
    assert {j["uuid"] for j in running["items"]} == {job_uuid(1), job_uuid(3)}
    assert (first["total"], first["limit"], first["offset"]) == (6, 4, 0)
    assert len(first["items"]) == 4
    assert len(rest["items"]) == 2
    paged = {j["uuid"] for j in first["items"] + rest["items"]}
    assert paged == {job_uuid(n) for n in (0, 1, 2, 3, 4, 9)}


async def test_one_job_has_its_history_and_no_private_fields(served: Served) -> None:
    uuid = await store_job(served, 1)

    job = await get(served, f"/jobs/{uuid}")

    assert job["uuid"] == uuid
    assert job["data"] == {"n": 1}
    assert [event["name"] for event in job["history"]] == ["create"]
    assert "_internal_note" not in job


async def test_files_generated_by_a_job(served: Served) -> None:
    uuid = await store_job(served, 1)
    name = "/products/v2/x/a/1/out.csv"
    await served.system.store.upsert_file(
        {"uuid": file_uuid(name), "name": name, "level": "1", "generated_by": [uuid]}
    )
    await served.system.store.upsert_file(
        {"uuid": file_uuid("/other"), "name": "/other", "level": "1", "generated_by": []}
    )

    files = await get(served, "/files", generated_by=uuid)

    assert [f["name"] for f in files["items"]] == [name]


async def test_files_by_name_and_one_with_the_jobs_that_generated_it(served: Served) -> None:
    first, second = await store_job(served, 1), await store_job(served, 2)
    name = "/products/v2/x/a/1/out.csv"
    for path, jobs in ((name, [first, second]), (f"{name}.bak", [first]), ("/other", [])):
        await served.system.store.upsert_file(
            {"uuid": file_uuid(path), "name": path, "level": "1", "generated_by": jobs}
        )

    named = await get(served, "/files", name=name)
    named_by_job = await get(served, "/files", name=name, generated_by=second)
    nothing = await get(served, "/files", name="/products/v2/x/a/1/nothing.csv")
    one = await get(served, f"/files/{file_uuid(name)}")
    unknown = await served.client.get(
        f"/files/{file_uuid('/nowhere')}", headers=served.bearer("reader")
    )
    mistyped = await served.client.get(f"/files/{first}", headers=served.bearer("reader"))

    assert [f["name"] for f in named["items"]] == [name]
    assert [f["name"] for f in named_by_job["items"]] == [name]
    assert nothing["items"] == []
    assert (one["name"], sorted(one["generated_by"])) == (name, sorted([first, second]))
    assert_problem(unknown, 404, "no file", "name=")
    assert_problem(mistyped, 422, "expected a file UUID")


async def test_unknown_documents_are_404(served: Served) -> None:
    unknown_job = job_uuid(404)

    job = await served.client.get(f"/jobs/{unknown_job}", headers=served.bearer())
    pipeline = await served.client.get(f"/pipelines/{OTHER_PIPELINE}", headers=served.bearer())

    assert_problem(job, 404, unknown_job)
    assert_problem(pipeline, 404, OTHER_PIPELINE)


async def test_malformed_or_mistyped_uuids_are_422(served: Served) -> None:
    cases = [
        f"/jobs/{'not-a-uuid'}",
        f"/jobs/{PIPELINE}",  # a pipeline uuid where a job's is needed
        f"/pipelines/{job_uuid(1)}",
        f"/jobs?pipeline_uuid={job_uuid(1)}",
        "/files?generated_by=nonsense",
    ]
    for path in cases:
        response = await served.client.get(path, headers=served.bearer())
        assert_problem(response, 422)


async def test_bad_query_parameters_are_422_naming_them(served: Served) -> None:
    cases = {
        "/jobs?state=SLEEPING": "'state'",
        "/jobs?limit=0": "'limit'",
        "/jobs?limit=abc": "'limit'",
        "/pipelines?offset=-1": "'offset'",
        "/pipelines?state=GONE": "'state'",
    }
    for path, needle in cases.items():
        response = await served.client.get(path, headers=served.bearer())
        problem = assert_problem(response, 422, needle)
        assert problem["errors"][0].startswith("query parameter"), problem


async def test_reading_needs_a_bearer_token_not_a_nonce(served: Served) -> None:
    nonce = await served.new_nonce(Recorder.alias, level="UPDATE")

    anonymous = await served.client.get("/jobs")
    with_nonce = await served.client.get("/jobs", params={"x-nonce": nonce})

    assert_problem(anonymous, 401)
    assert_problem(with_nonce, 401, "Bearer")
