"""Every public domain function refuses an argument of the wrong type with ``InvalidInput``
naming the argument and what it accepts, never with a raw AttributeError or TypeError."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from pipelinejobs.domain import (
    UpdateTokens,
    archive_hash_of_linkage,
    archive_path,
    instanced_directory,
    job_uuid,
    linkage,
    namespace,
    pipeline_uuid,
    require_uuid,
    session_name,
)
from pipelinejobs.domain.filetypes import infer_filetype
from pipelinejobs.errors import InvalidIdentifier, InvalidInput

PIPELINE = pipeline_uuid([{"id": "tacobot"}])
SAMPLE = "1031a269-d2d5-5589-b122-f09411ab7454"
NOW = datetime(2020, 8, 18, 21, 1, 2, tzinfo=UTC)
NOT_ITERABLE = [None, 5, 1.5, True, object()]

Call = Callable[[Any], object]

CASES: list[tuple[str, Call, list[Any], str]] = [
    (
        "session_name",
        session_name,
        [None, 5, "casual", random],
        r"rng must be a random\.Random, such as random\.Random\(\) or secrets\.SystemRandom\(\)",
    ),
    (
        "instanced_directory now",
        lambda bad: instanced_directory("casual-bass", bad),
        ["now", None, 1597784462, NOW.date()],
        r"now must be a timezone-aware UTC datetime such as datetime\.now\(UTC\)",
    ),
    (
        "job_uuid linked",
        lambda bad: job_uuid(PIPELINE, bad, {}),
        [*NOT_ITERABLE, {SAMPLE: 1}],
        r"linked uuids must be a list of typed UUIDs \(empty for none\)",
    ),
    (
        "archive_path linked",
        lambda bad: archive_path(PIPELINE, bad, {}),
        NOT_ITERABLE,
        r"linked uuids must be a list of typed UUIDs",
    ),
    (
        "archive_hash_of_linkage",
        archive_hash_of_linkage,
        NOT_ITERABLE,
        r"linked uuids must be a list of typed UUIDs",
    ),
    (
        "namespace",
        namespace,
        [None, [], {}, 5, ""],
        r"domain must be a DNS name such as 'sd2e\.org'",
    ),
    (
        "require_uuid expected",
        lambda bad: require_uuid(SAMPLE, bad),
        [None, 103, "samples"],
        r"uuid type .* is unknown; accepted: generic, .*sample",
    ),
    (
        "UpdateTokens",
        UpdateTokens,
        [None, 5, b"k" * 32, "k" * 32, []],
        r"update token keys must be a non-empty list of byte strings",
    ),
    (
        "infer_filetype",
        infer_filetype,
        [None, 5, b"reads.fastq", ["reads.fastq"]],
        r"path must be a file path as a str",
    ),
]


@pytest.mark.parametrize(
    ("call", "bad", "accepted"),
    [
        pytest.param(call, bad, accepted, id=f"{name}-{type(bad).__name__}")
        for name, call, values, accepted in CASES
        for bad in values
    ],
)
def test_wrong_argument_is_refused_naming_what_is_accepted(
    call: Call, bad: Any, accepted: str
) -> None:
    with pytest.raises(InvalidInput, match=accepted):
        call(bad)


def test_the_refusal_shows_what_was_given() -> None:
    with pytest.raises(InvalidInput, match=r"got 'now' \(str\)$"):
        instanced_directory("casual-bass", "now")  # type: ignore[arg-type]


def test_a_key_given_in_place_of_the_key_list_is_not_shown() -> None:
    key = b"0123456789abcdef-my-rotating-key"

    with pytest.raises(InvalidInput) as caught:
        UpdateTokens(key)

    assert "rotating" not in str(caught.value)
    assert "got a bytes" in str(caught.value)


def test_a_bad_linked_uuid_is_named_by_its_index() -> None:
    with pytest.raises(InvalidIdentifier, match=r"linked uuids\[1\]: NoneType is not accepted"):
        linkage([SAMPLE, None])  # type: ignore[list-item]


def test_linkage_accepts_any_iterable_of_uuids() -> None:
    assert linkage(iter([SAMPLE, SAMPLE.upper()])) == [SAMPLE]
    assert linkage((SAMPLE,)) == linkage({SAMPLE}) == [SAMPLE]


def test_session_name_accepts_a_system_random() -> None:
    assert "-" in session_name(secrets.SystemRandom())
