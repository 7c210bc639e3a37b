"""Compute-service statuses become job events by the facts file's table (section 7)."""

from __future__ import annotations

import pytest
from pipelinejobs.domain.compute_status import STATUS_EVENTS, event_for_status
from pipelinejobs.domain.states import JobEvent
from pipelinejobs.errors import InvalidInput

RESOURCE_STATUSES = [
    "CREATED",
    "PENDING",
    "QUEUED",
    "SUBMITTING",
    "STAGING_INPUTS",
    "STAGING_JOB",
    "STAGED",
    "PROCESSING_INPUTS",
    "PAUSED",
    "CLEANING_UP",
    "ARCHIVING",
    "ARCHIVING_FINISHED",
    "PERMISSION_GRANT",
    "PERMISSION_REVOKE",
]
EXPECTED = {
    "RUNNING": "run",
    "FINISHED": "finish",
    "FAILED": "fail",
    "STOPPED": "fail",
    "DELETED": "fail",
    "ARCHIVING_FAILED": "fail",
    "KILLED": "update",
    "HEARTBEAT": "update",
    "UPDATED": "update",
    **dict.fromkeys(RESOURCE_STATUSES, "resource"),
}


@pytest.mark.parametrize(("status", "event"), EXPECTED.items())
def test_known_statuses(status: str, event: str) -> None:
    assert event_for_status(status) is JobEvent(event)


def test_the_table_has_no_other_entries() -> None:
    assert {status: event.value for status, event in STATUS_EVENTS.items()} == EXPECTED


@pytest.mark.parametrize(("status", "event"), [("running", "run"), (" Failed ", "fail")])
def test_status_is_case_insensitive(status: str, event: str) -> None:
    assert event_for_status(status) is JobEvent(event)


@pytest.mark.parametrize("status", ["BLOCKED", "${JOB_STATUS}", "archiving_paused"])
def test_unknown_statuses_become_update(status: str) -> None:
    assert event_for_status(status) is JobEvent.UPDATE


@pytest.mark.parametrize("status", ["", "   ", None])
def test_empty_status_is_refused(status: str) -> None:
    with pytest.raises(InvalidInput, match="status"):
        event_for_status(status)
