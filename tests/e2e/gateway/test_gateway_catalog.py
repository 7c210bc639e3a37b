"""The catalog read API over HTTP: each level listed, one record by text id or typed UUID, its
children, and the refusals that name what was wrong."""

from __future__ import annotations

from typing import Any

from gateway_harness import Served, assert_problem
from pipelinejobs.application.catalog import load_catalog
from pipelinejobs.domain.identifiers import UUIDType, typed_uuid

CATALOG = {
    "experiment_designs": [{"id": "design.tacc.1", "title": "Tacos"}],
    "experiments": [
        {"id": "experiment.tacc.2", "experiment_design": "design.tacc.1"},
        {"id": "experiment.tacc.1", "experiment_design": "design.tacc.1", "title": "Salsa"},
    ],
    "samples": [
        {"id": "sample.tacc.b", "experiment": "experiment.tacc.1"},
        {"id": "sample.tacc.a", "experiment": "experiment.tacc.1"},
        {"id": "sample.tacc.c", "experiment": "experiment.tacc.2"},
    ],
    "measurements": [
        {"id": "measurement.tacc.1", "sample": "sample.tacc.a"},
        {"id": "measurement.tacc.2", "sample": "sample.tacc.a"},
    ],
}


def uuid_of(text_id: str, kind: UUIDType) -> str:
    return typed_uuid(text_id, kind)


async def loaded(served: Served) -> Served:
    await load_catalog(served.system.store, CATALOG, domain="sd2e.org")
    return served


async def get(served: Served, path: str, **params: Any) -> Any:
    response = await served.client.get(path, params=params, headers=served.bearer("reader"))
    assert response.status_code == 200, response.text
    return response.json()


async def test_each_level_is_listed_by_text_id_with_typed_uuids(served: Served) -> None:
    await loaded(served)

    experiments = await get(served, "/catalog/experiments")
    samples = await get(served, "/catalog/samples", limit=2)
    measurements = await get(served, "/catalog/measurements")
    designs = await get(served, "/catalog/experiment_designs")

    assert [e["id"] for e in experiments["items"]] == ["experiment.tacc.1", "experiment.tacc.2"]
    assert experiments["total"] == 2
    assert experiments["items"][0]["uuid"] == uuid_of("experiment.tacc.1", UUIDType.EXPERIMENT)
    assert experiments["items"][0]["title"] == "Salsa"
    assert [s["id"] for s in samples["items"]] == ["sample.tacc.a", "sample.tacc.b"]
    assert samples["total"] == 3
    assert measurements["total"] == 2
    assert [d["id"] for d in designs["items"]] == ["design.tacc.1"]


async def test_one_record_by_text_id_or_typed_uuid(served: Served) -> None:
    await loaded(served)
    sample_uuid = uuid_of("sample.tacc.a", UUIDType.SAMPLE)

    by_text = await get(served, "/catalog/samples/sample.tacc.a")
    by_uuid = await get(served, f"/catalog/samples/{sample_uuid}")
    measurement = await get(served, "/catalog/measurements/measurement.tacc.2")

    assert by_text == by_uuid
    assert (by_text["uuid"], by_text["type"]) == (sample_uuid, "sample")
    assert by_text["child_of"] == [uuid_of("experiment.tacc.1", UUIDType.EXPERIMENT)]
    assert measurement["uuid"] == uuid_of("measurement.tacc.2", UUIDType.MEASUREMENT)
    assert measurement["child_of"] == [sample_uuid]


async def test_children_of_a_record(served: Served) -> None:
    await loaded(served)
    experiment_uuid = uuid_of("experiment.tacc.1", UUIDType.EXPERIMENT)

    samples = await get(served, f"/catalog/experiments/{experiment_uuid}/samples")
    measurements = await get(served, "/catalog/samples/sample.tacc.a/measurements")
    none = await get(served, "/catalog/samples/sample.tacc.b/measurements")
    experiments = await get(served, "/catalog/experiment_designs/design.tacc.1/experiments")

    assert [s["id"] for s in samples["items"]] == ["sample.tacc.a", "sample.tacc.b"]
    assert [m["id"] for m in measurements["items"]] == ["measurement.tacc.1", "measurement.tacc.2"]
    assert none["items"] == []
    assert len(experiments["items"]) == 2


async def test_refusals_name_what_was_wrong(served: Served) -> None:
    await loaded(served)
    bearer = served.bearer("reader")
    experiment_uuid = uuid_of("experiment.tacc.1", UUIDType.EXPERIMENT)

    missing = await served.client.get("/catalog/samples/sample.tacc.zzz", headers=bearer)
    wrong_type = await served.client.get(f"/catalog/samples/{experiment_uuid}", headers=bearer)
    other_text = await served.client.get("/catalog/samples/experiment.tacc.1", headers=bearer)
    anonymous = await served.client.get("/catalog/experiments")

    assert_problem(missing, 404, "no sample 'sample.tacc.zzz'", "/catalog/samples")
    assert_problem(wrong_type, 422, "expected a sample UUID")
    assert_problem(other_text, 422, "names a experiment in the catalog, not a sample")
    assert_problem(anonymous, 401)


async def test_a_record_of_any_level_by_text_id_or_uuid(served: Served) -> None:
    await loaded(served)
    measurement_uuid = uuid_of("measurement.tacc.1", UUIDType.MEASUREMENT)

    by_uuid = await get(served, f"/catalog/records/{measurement_uuid}")
    by_text = await get(served, "/catalog/records/experiment.tacc.1")
    missing = await served.client.get(
        "/catalog/records/nothing.here", headers=served.bearer("reader")
    )

    assert (by_uuid["id"], by_uuid["type"]) == ("measurement.tacc.1", "measurement")
    assert (by_text["uuid"], by_text["type"]) == (
        uuid_of("experiment.tacc.1", UUIDType.EXPERIMENT),
        "experiment",
    )
    assert_problem(missing, 404, "no catalog record 'nothing.here'")
