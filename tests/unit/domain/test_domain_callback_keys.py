"""The natural key of a compute callback: equal for a retry, different for any other callback."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pipelinejobs.domain.callback_keys import callback_key

texts = st.text(min_size=1, max_size=12)
contexts = st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3)
callbacks = st.tuples(texts, contexts, texts, texts, texts)


def key(actor: str, context: dict[str, str], job: str, status: str, updated: str) -> str | None:
    return callback_key(actor, context, {"id": job, "status": status, "lastUpdated": updated})


@given(callbacks)
def test_a_retry_has_the_same_key(callback: tuple[Any, ...]) -> None:
    assert key(*callback) is not None
    assert key(*callback) == key(*callback)


@given(callbacks, callbacks)
def test_different_callbacks_never_share_a_key(a: tuple[Any, ...], b: tuple[Any, ...]) -> None:
    if a != b:
        assert key(*a) != key(*b)


def test_parts_that_would_meet_when_joined_stay_apart() -> None:
    assert key("jobs-manager", {}, "a/b", "c", "d") != key("jobs-manager", {}, "a", "b/c", "d")
    assert key("jobs-manager", {"a": "b"}, "c", "d", "e") != key(
        "jobs-manager", {"ab": ""}, "c", "d", "e"
    )


def test_only_a_record_with_job_id_status_and_last_updated_has_a_key() -> None:
    record = {"id": "1-local", "status": "RUNNING", "lastUpdated": "2026-12-06T05:00:00Z"}
    assert callback_key("jobs-manager", {}, record) is not None
    for field in record:
        assert callback_key("jobs-manager", {}, {**record, field: ""}) is None
        assert (
            callback_key("jobs-manager", {}, {k: v for k, v in record.items() if k != field})
            is None
        )
    assert callback_key("jobs-manager", {}, [record]) is None
    assert callback_key("jobs-manager", {}, {**record, "status": 1}) is None
