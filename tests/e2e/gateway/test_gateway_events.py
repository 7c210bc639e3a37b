"""The event log over HTTP: a job's history paged, the bound on the embedded history, lists
without histories, and the global feed (commit order, filters, resumption)."""

from __future__ import annotations

from gateway_harness import Served, assert_problem
from pipelinejobs.application.ledger import history_event
from pipelinejobs.gateway.routes_read import HISTORY_LIMIT
from test_gateway_read_api import PIPELINE, get, store_job, store_pipeline


async def append(served: Served, uuid: str, count: int, *, name: str = "update") -> None:
    store = served.system.store
    for _ in range(count):
        job = await store.get_document("jobs", uuid)
        assert job is not None
        entry = history_event(name, {"n": job.version}, domain="sd2e.org")
        await store.append_event(
            "jobs",
            uuid,
            expected_version=job.version,
            event=entry,
            changes={"last_event": name, "updated": entry["date"]},
            message_id=f"{uuid}-{job.version}",
        )


async def test_a_job_history_pages_through_its_events(served: Served) -> None:
    uuid = await store_job(served, 1)
    await append(served, uuid, 6)

    first = await get(served, f"/jobs/{uuid}/events", limit=4)
    rest = await get(served, f"/jobs/{uuid}/events", after=first["next"], limit=4)

    assert [e["version"] for e in first["items"]] == [1, 2, 3, 4]
    assert first["next"] == 4
    assert [e["version"] for e in rest["items"]] == [5, 6, 7]
    assert rest["next"] is None
    assert set(first["items"][1]) == {"version", "uuid", "name", "date", "data"}
    assert first["items"][1]["data"] == {"n": 1}


async def test_an_unknown_job_has_no_events_page(served: Served) -> None:
    uuid = await store_job(served, 1)
    other = uuid[:-4] + ("0000" if not uuid.endswith("0000") else "1111")
    response = await served.client.get(f"/jobs/{other}/events", headers=served.bearer("r"))
    assert_problem(response, 404, "no job")


async def test_a_long_history_is_embedded_up_to_its_bound_and_says_where_it_goes_on(
    served: Served,
) -> None:
    uuid = await store_job(served, 1)
    await append(served, uuid, HISTORY_LIMIT + 2)

    job = await get(served, f"/jobs/{uuid}")

    assert len(job["history"]) == HISTORY_LIMIT
    assert job["history_truncated"] is True
    response = await served.client.get(job["history_next"], headers=served.bearer("reader"))
    assert response.status_code == 200, response.text
    rest = response.json()["items"]
    assert [e["version"] for e in rest] == [HISTORY_LIMIT + 1, HISTORY_LIMIT + 2, HISTORY_LIMIT + 3]
    short = await get(served, f"/jobs/{await store_job(served, 2)}")
    assert "history_truncated" not in short
    assert [e["name"] for e in short["history"]] == ["create"]


async def test_lists_never_carry_histories(served: Served) -> None:
    await store_pipeline(served)
    await store_job(served, 1)
    for path in ("/jobs", "/pipelines"):
        assert all("history" not in item for item in (await get(served, path))["items"])


async def test_the_feed_pages_every_event_in_commit_order_with_filters(served: Served) -> None:
    await store_pipeline(served)
    one = await store_job(served, 1)
    two = await store_job(served, 2)
    await append(served, one, 1, name="run")
    await append(served, two, 2)

    feed = await get(served, "/events")
    assert [(e["stream"], e["version"], e["name"]) for e in feed["items"]] == [
        (PIPELINE, 1, "create"),
        (one, 1, "create"),
        (two, 1, "create"),
        (one, 2, "run"),
        (two, 2, "update"),
        (two, 3, "update"),
    ]
    assert feed["items"][1]["kind"] == "job"
    assert "message_id" not in feed["items"][1]
    first = await get(served, "/events", limit=2)
    rest = await get(served, "/events", after=first["next"])
    assert first["items"] + rest["items"] == feed["items"]
    assert (await get(served, "/events", after=rest["next"]))["items"] == []
    assert (await get(served, "/events", after=rest["next"]))["next"] == rest["next"]

    names = await get(served, "/events", name="run")
    assert [(e["stream"], e["name"]) for e in names["items"]] == [(one, "run")]
    assert [e["version"] for e in (await get(served, "/events", job=two))["items"]] == [1, 2, 3]
    by_pipeline = await get(served, "/events", pipeline=PIPELINE)
    assert len(by_pipeline["items"]) == 6
    created = await get(served, "/events", state="created")
    assert {e["stream"] for e in created["items"]} == {one, two}


async def test_the_feed_refuses_what_is_not_a_uuid(served: Served) -> None:
    response = await served.client.get(
        "/events", params={"job": "not-a-uuid"}, headers=served.bearer("r")
    )
    assert response.status_code in (400, 422), response.text
