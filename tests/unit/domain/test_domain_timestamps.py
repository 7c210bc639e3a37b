"""Timestamps: the one format of every stored document, and its microsecond twin for log lines."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from pipelinejobs.domain.executions import utc_now, utc_now_precise


@pytest.mark.parametrize(("stamp", "digits"), [(utc_now, 3), (utc_now_precise, 6)])
def test_a_timestamp_is_iso_utc_with_a_z_and_says_now(stamp: object, digits: int) -> None:
    before = datetime.now(UTC)
    text = stamp()  # type: ignore[operator]
    after = datetime.now(UTC)

    assert re.fullmatch(rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{{digits}}}Z", text), text
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert before - timedelta(milliseconds=1) <= moment <= after


def test_timestamps_taken_in_order_sort_in_order() -> None:
    stamps = [utc_now_precise() for _ in range(2000)]

    assert stamps == sorted(stamps)
