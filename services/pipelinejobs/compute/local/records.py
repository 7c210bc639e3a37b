"""The local execution system's record of one job, and the Agave-shaped body it reports.

The body is what every notification POSTs and what ``status`` returns as detail: the fields
the ``agave_job_callback`` schema requires (``appId``, ``executionSystem``, ``owner``,
``archivePath``, ``archiveSystem``, ``status``, ``inputs``, ``parameters``, ``_links``) plus
Agave's ``id``, ``name``, times and ``lastStatusMessage``. Notification URLs are never part of
it: they carry the receiver's tokens, and receivers store the body.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pipelinejobs.compute.local.definition import JobRequest
from pipelinejobs.compute.local.runner import StagedInput, Workspace
from pipelinejobs.domain.agave_uri import agave_uri


class JobStatus(StrEnum):
    """The statuses a local job walks through (Agave's names)."""

    PENDING = "PENDING"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    ARCHIVING = "ARCHIVING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"


TERMINAL_STATUSES = frozenset({JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED})


def timestamp() -> str:
    """Agave's timestamp style (ISO 8601 with milliseconds and offset), in UTC."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class LocalJob:
    """One submitted job: what to run, where to archive, and how far it got."""

    id: str
    request: JobRequest
    app_id: str
    link: str
    owner: str
    execution_system: str
    archive_system: str
    archive_path: str
    parameters: dict[str, Any]
    staged: list[StagedInput]
    argv: list[str]
    max_run_time: str
    workspace: Workspace
    status: JobStatus = JobStatus.PENDING
    last_status_message: str = "Job accepted by the local execution system"
    created: str = field(default_factory=timestamp)
    last_updated: str = ""
    start_time: str | None = None
    end_time: str | None = None
    stop_reason: str | None = None
    notified: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.last_updated = self.created

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def change(self, status: JobStatus, message: str) -> None:
        """Move to ``status``; a job that ended stays as it ended."""
        if self.finished:
            return
        self.status = status
        self.last_status_message = message
        self.last_updated = timestamp()
        if status == JobStatus.RUNNING and self.start_time is None:
            self.start_time = self.last_updated
        if status in TERMINAL_STATUSES:
            self.end_time = self.last_updated

    def body(self) -> dict[str, Any]:
        """The job as Agave v2 reports it (a fresh copy)."""
        return {
            "id": self.id,
            "name": self.request.name,
            "owner": self.owner,
            "appId": self.app_id,
            "executionSystem": self.execution_system,
            "archive": self.request.archive,
            "archivePath": self.archive_path,
            "archiveSystem": self.archive_system,
            "status": self.status.value,
            "inputs": _copy(self.request.definition.get("inputs") or {}),
            "parameters": _copy(self.parameters),
            "maxRunTime": self.max_run_time,
            "created": self.created,
            "submitTime": self.created,
            "startTime": self.start_time,
            "endTime": self.end_time,
            "lastUpdated": self.last_updated,
            "lastStatusMessage": self.last_status_message,
            "_links": {
                "self": {"href": self.link},
                "app": {"href": f"local://apps/{self.app_id}"},
                "archiveData": {"href": agave_uri(self.archive_system, self.archive_path)},
            },
        }


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(v) for v in value]
    return value
