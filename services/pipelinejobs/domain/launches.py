"""A managed job's compute job: what its launch records, and the request that cancels it.

The agave-proxy records ``run`` with the compute job's id and link when the compute service
accepts the job. The jobs-manager, when the job then fails or is reset, asks the agave-proxy to
cancel that compute job; the agave-proxy cancels only a compute job the job's own history names,
so a cancel request can never reach another job's compute work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pipelinejobs.domain.identifiers import UUIDType, require_uuid
from pipelinejobs.domain.states import JobEvent
from pipelinejobs.errors import InvalidInput

COMPUTE_JOB_ID = "job_id"
COMPUTE_JOB_LINK = "job_link"
CANCEL_ACTION = "cancel"
"""``action`` of the agave-proxy message that cancels a job's compute job."""
CANCELLING_EVENTS = frozenset({JobEvent.FAIL, JobEvent.RESET})
"""Events after which the job's compute job, if it still runs, has no reason to."""
MAX_COMPUTE_JOB_ID_LENGTH = 200


def run_data(job_id: str, job_link: str) -> dict[str, str]:
    """The data of the ``run`` event that records a launch."""
    return {COMPUTE_JOB_LINK: job_link, COMPUTE_JOB_ID: job_id}


def launched_as(history: Iterable[Mapping[str, Any]]) -> tuple[str | None, str | None]:
    """The id and link of the compute job the latest launch recorded (None, None: never)."""
    for event in reversed(list(history)):
        data = event.get("data") or {}
        if event.get("name") == JobEvent.RUN and COMPUTE_JOB_ID in data:
            return data.get(COMPUTE_JOB_ID), data.get(COMPUTE_JOB_LINK)
    return None, None


def launched_ids(history: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every compute job id the job's launches recorded, oldest first."""
    return [
        str(event["data"][COMPUTE_JOB_ID])
        for event in history
        if event.get("name") == JobEvent.RUN
        and isinstance(event.get("data"), Mapping)
        and COMPUTE_JOB_ID in event["data"]
    ]


def cancel_request(job_uuid: str, token: str, job_id: str) -> dict[str, str]:
    """The agave-proxy message that cancels compute job ``job_id`` of job ``job_uuid``."""
    return {"action": CANCEL_ACTION, "uuid": job_uuid, "token": token, COMPUTE_JOB_ID: job_id}


def checked_cancel_request(document: Mapping[str, Any]) -> tuple[str, object, str]:
    """The job uuid, token and compute job id of a cancel request; ``InvalidInput`` naming what
    is missing or malformed otherwise (the token is checked by whoever holds the keys)."""
    uuid = document.get("uuid")
    if not isinstance(uuid, str):
        raise InvalidInput(
            'a cancel request names the job: {"action": "cancel", "uuid": "107...", '
            '"token": "<update token>", "job_id": "<compute job id>"}; uuid is missing'
        )
    job_id = document.get(COMPUTE_JOB_ID)
    if not isinstance(job_id, str) or not 0 < len(job_id) <= MAX_COMPUTE_JOB_ID_LENGTH:
        raise InvalidInput(
            f"a cancel request names the compute job to cancel: {COMPUTE_JOB_ID} must be the "
            f"id its job's run event recorded (1 to {MAX_COMPUTE_JOB_ID_LENGTH} characters)"
        )
    return require_uuid(uuid, UUIDType.PIPELINEJOB), document.get("token"), job_id
