"""Archive paths: the original's hash vectors, the path layout, sessions and path safety."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import petname
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pipelinejobs.domain.archive import (
    archive_hash_of_data,
    archive_hash_of_linkage,
    archive_path,
    archive_paths_overlap,
    hashid,
    instanced_directory,
    normalize_archive_path,
    session_name,
)
from pipelinejobs.domain.identifiers import UUIDType, pipeline_uuid, typed_uuid
from pipelinejobs.errors import InvalidIdentifier, InvalidInput

EXPERIMENT = "102e95e6-67a8-5a06-9484-3131c6907890"
PIPELINE = "106c46ff-8186-5756-a934-071f4497b58d"
SAMPLE_A = typed_uuid("sample a", UUIDType.SAMPLE)
SAMPLE_B = typed_uuid("sample b", UUIDType.SAMPLE)


@pytest.mark.parametrize(
    ("data", "expected"),
    [({}, "PAVpwrObxp5YjYRvrJOd5yVp"), ({"alpha": 0.5}, "0p5yeV3VR3OELzgoJ5kk6Yxw")],
)
def test_data_hash_vectors_from_the_original(data: dict[str, Any], expected: str) -> None:
    assert archive_hash_of_data(data) == expected


def test_linkage_hash_vector_from_the_original() -> None:
    assert archive_hash_of_linkage([EXPERIMENT]) == "Db6rzKZnnyA8E5qvwvxjpwZ4"


def test_hashid_is_the_salted_hashid_of_the_uuid_integer() -> None:
    value = typed_uuid("{}", UUIDType.GENERIC)
    assert hashid(value) == "PAVpwrObxp5YjYRvrJOd5yVp"
    assert hashid(value.upper()) == hashid(value)
    with pytest.raises(InvalidIdentifier, match="not a UUID"):
        hashid("nope")


def test_linkage_hash_ignores_order_case_and_duplicates() -> None:
    expected = archive_hash_of_linkage([SAMPLE_A, SAMPLE_B])
    assert archive_hash_of_linkage([SAMPLE_B, SAMPLE_A]) == expected
    assert archive_hash_of_linkage([SAMPLE_B.upper(), SAMPLE_A, SAMPLE_A]) == expected
    assert archive_hash_of_linkage([SAMPLE_A]) != expected


def test_data_hash_ignores_key_order_and_refuses_non_objects() -> None:
    assert archive_hash_of_data({"a": 1, "b": 2}) == archive_hash_of_data({"b": 2, "a": 1})
    with pytest.raises(InvalidInput, match="data must be a JSON object"):
        archive_hash_of_data([1])  # type: ignore[arg-type]


def test_archive_path_layout() -> None:
    assert archive_path(PIPELINE, [EXPERIMENT], {"alpha": 0.5}) == (
        "/products/v2/106c46ff81865756a934071f4497b58d/"
        "Db6rzKZnnyA8E5qvwvxjpwZ4/0p5yeV3VR3OELzgoJ5kk6Yxw"
    )


def test_archive_path_with_instanced_directory() -> None:
    path = archive_path(PIPELINE, [], {}, instanced_directory="casual-bass-20190215T213009Z")
    parts = path.split("/")
    assert parts[:4] == ["", "products", "v2", "106c46ff81865756a934071f4497b58d"]
    assert parts[5] == "PAVpwrObxp5YjYRvrJOd5yVp"
    assert parts[6] == "casual-bass-20190215T213009Z"
    assert len(parts) == 7


@pytest.mark.parametrize("directory", ["", "..", ".", "a/b", "../x", "-x", "a b", "x" * 200])
def test_archive_path_refuses_unsafe_instanced_directory(directory: str) -> None:
    with pytest.raises(InvalidInput, match="instanced_directory"):
        archive_path(PIPELINE, [], {}, instanced_directory=directory)


def test_archive_path_needs_a_pipeline_uuid() -> None:
    with pytest.raises(InvalidIdentifier, match="expected a pipeline UUID"):
        archive_path(SAMPLE_A, [], {})


def test_archive_path_is_the_same_for_the_same_job_request() -> None:
    pipeline = pipeline_uuid([{"id": "tacobot"}])
    first = archive_path(pipeline, [SAMPLE_A, SAMPLE_B], {"x": [1, 2]})
    assert archive_path(pipeline, [SAMPLE_B, SAMPLE_A], {"x": [1, 2]}) == first
    assert archive_path(pipeline, [SAMPLE_A], {"x": [1, 2]}) != first
    assert archive_path(pipeline, [SAMPLE_A, SAMPLE_B], {"x": [2, 1]}) != first


def test_instanced_directory_format() -> None:
    now = datetime(2019, 2, 15, 21, 30, 9, 123456, tzinfo=UTC)
    assert instanced_directory("sensible-adder", now) == "sensible-adder-20190215T213009Z"


def test_instanced_directory_accepts_other_utc_tzinfo() -> None:
    now = datetime(2019, 2, 15, 21, 30, 9, tzinfo=timezone(timedelta(0)))
    assert instanced_directory("casual-bass", now) == "casual-bass-20190215T213009Z"


@pytest.mark.parametrize(
    "now",
    [
        datetime(2019, 2, 15, 21, 30, 9),
        datetime(2019, 2, 15, 21, 30, 9, tzinfo=timezone(timedelta(hours=2))),
    ],
)
def test_instanced_directory_needs_utc(now: datetime) -> None:
    with pytest.raises(InvalidInput, match="UTC"):
        instanced_directory("casual-bass", now)


@pytest.mark.parametrize("session", ["", "../up", "a/b", "x" * 65, "-lead"])
def test_instanced_directory_refuses_unsafe_sessions(session: str) -> None:
    with pytest.raises(InvalidInput, match="session"):
        instanced_directory(session, datetime(2020, 1, 1, tzinfo=UTC))


def test_session_names_are_adjective_animal_from_the_rng() -> None:
    names = [session_name(random.Random(seed)) for seed in range(200)]
    adjectives = {w for w in petname.adjectives if len(w) <= 8}
    animals = {w for w in petname.names if len(w) <= 8}
    for name in names:
        adjective, animal = name.split("-")
        assert adjective in adjectives
        assert animal in animals
    assert session_name(random.Random(7)) == session_name(random.Random(7))
    assert len(set(names)) > 150


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", "/"),
        ("/products/v2/abc", "/products/v2/abc"),
        ("/products/v2/abc/", "/products/v2/abc"),
        ("/uploads/file..txt", "/uploads/file..txt"),
        ("/uploads/.hidden", "/uploads/.hidden"),
    ],
)
def test_safe_paths_are_kept(path: str, expected: str) -> None:
    assert normalize_archive_path(path) == expected


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("", "not absolute"),
        ("products/v2", "not absolute"),
        ("/products/../etc", "'..' segment"),
        ("/..", "'..' segment"),
        ("/products/./v2", "'.' or '..' segment"),
        ("/products//v2", "'//'"),
        ("//etc", "'//'"),
        ("/products\\..\\etc", "backslash"),
        ("/products/\x00evil", "control character"),
        ("/products/line\nbreak", "control character"),
    ],
)
def test_unsafe_paths_are_refused_naming_the_path(path: str, problem: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_archive_path(path)
    assert repr(path) in str(caught.value)
    assert problem in str(caught.value)


def test_non_string_path_is_refused() -> None:
    with pytest.raises(InvalidInput, match="must be a str"):
        normalize_archive_path(None)  # type: ignore[arg-type]


@given(st.lists(st.text(min_size=1, max_size=6), max_size=6))
def test_accepted_paths_never_climb_and_are_stable(segments: list[str]) -> None:
    path = "/" + "/".join(segments)
    try:
        normal = normalize_archive_path(path)
    except InvalidInput:
        return
    assert ".." not in normal.split("/")
    assert "//" not in normal
    assert normalize_archive_path(normal) == normal


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        ("/products/v2/a/run-1", "/products/v2/a/run-1", True),
        ("/products/v2/a/run-1/", "/products/v2/a/run-1", True),
        ("/products/v2/a/run-1/sub", "/products/v2/a/run-1", True),
        ("/products/v2/a", "/products/v2/a/run-1", True),
        ("/", "/products/v2/a/run-1", True),
        ("/products/v2/a/run-10", "/products/v2/a/run-1", False),
        ("/products/v2/a/run", "/products/v2/a/run-1", False),
        ("/products/v2/b/run-1", "/products/v2/a/run-1", False),
    ],
)
def test_archive_paths_overlap_by_whole_segments(first: str, second: str, overlap: bool) -> None:
    assert archive_paths_overlap(first, second) is overlap
    assert archive_paths_overlap(second, first) is overlap
