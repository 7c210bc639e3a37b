"""The catalog (load, find) and job linkage against it, on a real SQLite store."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pipelinejobs.application.catalog import find, load_catalog
from pipelinejobs.application.linkage import Linkage, resolve_linkage
from pipelinejobs.domain.identifiers import typed_uuid
from pipelinejobs.errors import InvalidIdentifier, InvalidInput, NotFound, StoreUnavailable
from pipelinejobs.store.sqlite import SQLiteStore

DOMAIN = "sd2e.org"
FIXTURE = Path(__file__).parents[1] / "fixtures" / "catalog.json"


def uid(text: str, kind: str) -> str:
    return typed_uuid(text, kind, domain=DOMAIN)


def demo_catalog() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(FIXTURE.read_text())
    return document


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "store.sqlite")
    await store.start()
    yield store
    await store.close()


@pytest.fixture
async def loaded(store: SQLiteStore) -> SQLiteStore:
    await load_catalog(store, demo_catalog(), domain=DOMAIN)
    return store


# -- load_catalog ----------------------------------------------------------------------------
async def test_load_returns_counts_and_stores_typed_records(store: SQLiteStore) -> None:
    counts = await load_catalog(store, demo_catalog(), domain=DOMAIN)

    assert counts == {"experiment_designs": 1, "experiments": 2, "samples": 3, "measurements": 4}
    sample = await store.get_catalog_record("sample.tacc.abcde")
    assert sample == {
        "uuid": uid("sample.tacc.abcde", "sample"),
        "type": "sample",
        "id": "sample.tacc.abcde",
        "child_of": [uid("experiment.tacc.10001", "experiment")],
    }
    design = await store.get_catalog_record(uid("NovelChassis-NAND-Gate", "experiment_design"))
    assert design is not None
    assert design["title"] == "Novel chassis NAND gate"
    assert design["child_of"] == []


async def test_loading_twice_changes_nothing(store: SQLiteStore) -> None:
    await load_catalog(store, demo_catalog(), domain=DOMAIN)
    before = await store.find_catalog_children(uid("sample.tacc.abcde", "sample"), "measurement")

    counts = await load_catalog(store, demo_catalog(), domain=DOMAIN)

    after = await store.find_catalog_children(uid("sample.tacc.abcde", "sample"), "measurement")
    assert counts["measurements"] == 4
    assert after == before
    assert [m["id"] for m in after] == ["measurement.tacc.1234", "measurement.tacc.2345"]


async def test_parents_may_be_uuids_or_records_loaded_earlier(loaded: SQLiteStore) -> None:
    sample_uuid = uid("sample.tacc.abcde", "sample")
    document = {
        "measurements": [
            {"id": "measurement.tacc.9001", "sample": sample_uuid},
            {"id": "measurement.tacc.9002", "sample": "sample.tacc.fghij", "note": "rerun"},
        ]
    }

    assert await load_catalog(loaded, document, domain=DOMAIN) == {
        "experiment_designs": 0,
        "experiments": 0,
        "samples": 0,
        "measurements": 2,
    }
    first = await loaded.get_catalog_record("measurement.tacc.9001")
    second = await loaded.get_catalog_record("measurement.tacc.9002")
    assert first is not None
    assert second is not None
    assert first["child_of"] == [sample_uuid]
    assert second["child_of"] == [uid("sample.tacc.fghij", "sample")]
    assert second["note"] == "rerun"


async def test_unknown_parent_is_named_and_nothing_is_written(store: SQLiteStore) -> None:
    document = {
        "samples": [{"id": "sample.tacc.ok", "experiment": "experiment.tacc.missing"}],
        "measurements": [{"id": "measurement.tacc.orphan", "sample": "sample.tacc.nowhere"}],
    }

    with pytest.raises(InvalidInput) as refused:
        await load_catalog(store, document, domain=DOMAIN)

    message = str(refused.value)
    assert "samples[0] (sample.tacc.ok)" in message
    assert "experiment.tacc.missing" in message
    assert "measurements[0] (measurement.tacc.orphan)" in message
    assert "sample.tacc.nowhere" in message
    assert await store.get_catalog_record("sample.tacc.ok") is None


async def test_parent_of_the_wrong_type_is_refused(store: SQLiteStore) -> None:
    document = {
        "experiments": [{"id": "experiment.tacc.1"}],
        "measurements": [{"id": "measurement.tacc.1", "sample": "experiment.tacc.1"}],
    }

    with pytest.raises(InvalidInput, match=r"measurements\[0\].*names a experiment, not a sample"):
        await load_catalog(store, document, domain=DOMAIN)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ([], "must be a JSON object"),
        ({"files": []}, "unknown section"),
        ({"samples": {"id": "sample.tacc.1"}}, "'samples' must be a list"),
        ({"experiments": ["experiment.tacc.1"]}, r"experiments\[0\]: must be an object"),
        ({"experiments": [{"title": "no id"}]}, r"experiments\[0\]: 'id' must be"),
        ({"samples": [{"id": "sample.tacc.1"}]}, r"samples\[0\] \(sample.tacc.1\): 'experiment'"),
        (
            {"experiments": [{"id": "experiment.tacc.1", "child_of": []}]},
            "'child_of' is set by the loader",
        ),
        (
            {"experiments": [{"id": "experiment.tacc.1"}, {"id": "experiment.tacc.1"}]},
            r"experiments\[1\].*appears more than once",
        ),
        (
            {"experiments": [{"id": "experiment.tacc.1", "uuid": uid("x", "sample")}]},
            "expected a experiment UUID",
        ),
    ],
)
async def test_malformed_documents_name_the_offending_entry(
    store: SQLiteStore, document: Any, expected: str
) -> None:
    with pytest.raises(InvalidInput, match=expected):
        await load_catalog(store, document, domain=DOMAIN)


async def test_a_text_id_cannot_name_two_records(loaded: SQLiteStore) -> None:
    document = {"experiment_designs": [{"id": "sample.tacc.abcde"}]}

    with pytest.raises(InvalidInput, match="already names the sample"):
        await load_catalog(loaded, document, domain=DOMAIN)


async def test_a_store_failure_part_way_writes_nothing_and_loading_again_completes_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "failing.sqlite"
    store = SQLiteStore(path)
    await store.start()
    try:
        with sqlite3.connect(path) as db:  # the disk "fails" at the fifth record
            db.execute(
                "CREATE TRIGGER fail_fifth BEFORE INSERT ON catalog "
                "WHEN json_extract(NEW.body, '$.id') = 'sample.tacc.fghij' "
                "BEGIN SELECT json('{disk gone'); END"
            )
        with pytest.raises(StoreUnavailable, match="malformed JSON"):
            await load_catalog(store, demo_catalog(), domain=DOMAIN)
        for text_id in ALL_IDS:
            assert await store.get_catalog_record(text_id) is None, text_id
        with sqlite3.connect(path) as db:
            db.execute("DROP TRIGGER fail_fifth")
        counts = await load_catalog(store, demo_catalog(), domain=DOMAIN)
        assert counts == {
            "experiment_designs": 1,
            "experiments": 2,
            "samples": 3,
            "measurements": 4,
        }
        assert all([await store.get_catalog_record(text_id) for text_id in ALL_IDS])
    finally:
        await store.close()


EXPERIMENTS = ["experiment.tacc.10001", "experiment.tacc.10002"]
ALL_IDS = [
    "NovelChassis-NAND-Gate",
    *EXPERIMENTS,
    "sample.tacc.abcde",
    "sample.tacc.fghij",
    "sample.tacc.klmno",
    "measurement.tacc.1234",
    "measurement.tacc.2345",
    "measurement.tacc.3456",
    "measurement.tacc.4567",
]


# -- find ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        "sample.tacc.abcde",
        uid("sample.tacc.abcde", "sample"),
        "uri:urn:" + uid("sample.tacc.abcde", "sample").upper(),
    ],
)
async def test_find_accepts_text_ids_and_typed_uuids(loaded: SQLiteStore, value: str) -> None:
    record = await find(loaded, value, "sample")

    assert record is not None
    assert record["id"] == "sample.tacc.abcde"


async def test_find_gives_none_for_an_unknown_id(loaded: SQLiteStore) -> None:
    assert await find(loaded, "sample.tacc.zzz", "sample") is None


async def test_find_refuses_a_record_of_another_type(loaded: SQLiteStore) -> None:
    with pytest.raises(InvalidIdentifier, match="expected a sample UUID"):
        await find(loaded, uid("measurement.tacc.1234", "measurement"), "sample")
    with pytest.raises(InvalidInput, match="names a measurement in the catalog, not a sample"):
        await find(loaded, "measurement.tacc.1234", "sample")


# -- linkage ---------------------------------------------------------------------------------
def measurements(*numbers: str) -> list[str]:
    return sorted(uid(f"measurement.tacc.{n}", "measurement") for n in numbers)


async def test_measurements_are_linked_and_name_the_archive_path(loaded: SQLiteStore) -> None:
    linkage = await resolve_linkage(
        loaded, {"measurement_id": ["measurement.tacc.2345", "measurement.tacc.1234"]}
    )

    assert linkage == Linkage(measurements("1234", "2345"), measurements("1234", "2345"))


async def test_a_sample_links_all_its_measurements_and_names_the_path(
    loaded: SQLiteStore,
) -> None:
    linkage = await resolve_linkage(loaded, {"sample_id": "sample.tacc.abcde"})

    assert linkage.derived_from == measurements("1234", "2345")
    assert linkage.path_uuids == [uid("sample.tacc.abcde", "sample")]


async def test_measurement_and_sample_link_the_measurements_under_the_sample_path(
    loaded: SQLiteStore,
) -> None:
    linkage = await resolve_linkage(
        loaded, {"sample_id": "sample.tacc.abcde", "measurement_id": "measurement.tacc.1234"}
    )

    assert linkage.derived_from == measurements("1234")
    assert linkage.path_uuids == [uid("sample.tacc.abcde", "sample")]


async def test_an_experiment_links_its_samples(loaded: SQLiteStore) -> None:
    linkage = await resolve_linkage(loaded, {"experiment_id": "experiment.tacc.10001"})

    assert linkage.derived_from == sorted(
        [uid("sample.tacc.abcde", "sample"), uid("sample.tacc.fghij", "sample")]
    )
    assert linkage.path_uuids == [uid("experiment.tacc.10001", "experiment")]


async def test_an_experiment_design_links_its_experiments(loaded: SQLiteStore) -> None:
    linkage = await resolve_linkage(loaded, {"experiment_design_id": "NovelChassis-NAND-Gate"})

    assert linkage.derived_from == sorted(
        uid(f"experiment.tacc.{n}", "experiment") for n in ("10001", "10002")
    )
    assert linkage.path_uuids == [uid("NovelChassis-NAND-Gate", "experiment_design")]


async def test_linkage_ignores_order_and_repeats(loaded: SQLiteStore) -> None:
    one = await resolve_linkage(loaded, {"sample_id": ["sample.tacc.fghij", "sample.tacc.abcde"]})
    other = await resolve_linkage(
        loaded,
        {
            "sample_id": [
                uid("sample.tacc.abcde", "sample"),
                "sample.tacc.fghij",
                "sample.tacc.abcde",
            ]
        },
    )

    assert one == other
    assert one.derived_from == measurements("1234", "2345", "3456")


async def test_every_unknown_id_is_listed(loaded: SQLiteStore) -> None:
    with pytest.raises(NotFound) as refused:
        await resolve_linkage(
            loaded,
            {
                "sample_id": ["sample.tacc.abcde", "sample.tacc.nope"],
                "measurement_id": "measurement.tacc.nada",
            },
        )

    assert "sample_id 'sample.tacc.nope'" in str(refused.value)
    assert "measurement_id 'measurement.tacc.nada'" in str(refused.value)
    assert "sample.tacc.abcde" not in str(refused.value)


async def test_a_job_must_be_linked(loaded: SQLiteStore) -> None:
    with pytest.raises(InvalidInput, match="give one of experiment_design_id"):
        await resolve_linkage(loaded, {})
    with pytest.raises(InvalidInput, match="sample_id must be a text id"):
        await resolve_linkage(loaded, {"sample_id": []})


async def test_a_sample_without_measurements_cannot_be_linked(loaded: SQLiteStore) -> None:
    await load_catalog(
        loaded,
        {"samples": [{"id": "sample.tacc.empty", "experiment": "experiment.tacc.10002"}]},
        domain=DOMAIN,
    )

    with pytest.raises(NotFound, match=r"sample sample\.tacc\.empty has no measurement records"):
        await resolve_linkage(loaded, {"sample_id": ["sample.tacc.abcde", "sample.tacc.empty"]})
