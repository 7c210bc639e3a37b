"""Compute-service (Agave/Tapis) job statuses, as reported in callbacks, mapped to job events.

Unknown statuses become ``update`` so a new status on the service side is recorded in the job's
history instead of failing the callback. ``UPDATED`` maps to ``update`` (the original sent the
non-existent event ``updated``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pipelinejobs.domain.states import JobEvent
from pipelinejobs.errors import InvalidInput

_GROUPS: dict[JobEvent, tuple[str, ...]] = {
    JobEvent.RUN: ("RUNNING",),
    JobEvent.FINISH: ("FINISHED",),
    JobEvent.FAIL: ("FAILED", "STOPPED", "DELETED", "ARCHIVING_FAILED"),
    JobEvent.UPDATE: ("KILLED", "HEARTBEAT", "UPDATED"),
    JobEvent.RESOURCE: (
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
    ),
}

STATUS_EVENTS: Mapping[str, JobEvent] = MappingProxyType(
    {status: event for event, statuses in _GROUPS.items() for status in statuses}
)
"""Every known compute-service status and the job event it becomes."""


def event_for_status(status: str) -> JobEvent:
    """The job event for a compute-service status (any case); unknown statuses are ``update``."""
    if not isinstance(status, str) or not status.strip():
        raise InvalidInput(
            f"status {status!r} is not accepted; expected a compute-service job status "
            "such as RUNNING, FINISHED or FAILED"
        )
    return STATUS_EVENTS.get(status.strip().upper(), JobEvent.UPDATE)
