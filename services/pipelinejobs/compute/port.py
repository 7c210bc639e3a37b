"""The compute-service port: where jobs' heavy lifting runs (Agave v2 / Tapis style).

A job definition is the Agave v2 shape: ``appId``, ``name``, ``inputs``, ``parameters``,
``maxRunTime``, ``archive``, ``archiveSystem``, ``archivePath``, ``notifications`` (a list of
``{event, url, persistent}``). Services report progress by calling the notification URLs with an
Agave-shaped job body; no caller waits for a compute job to end.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelinejobs.errors import PermanentError, TransientError


class ComputeRejected(PermanentError):
    """The service refused the request (unknown app, invalid definition); retrying won't help."""


class ComputeUnavailable(TransientError):
    """The service cannot be reached or failed; the request may succeed later."""


@dataclass(frozen=True)
class ComputeJob:
    """A job as the compute service reports it."""

    id: str
    status: str
    link: str
    detail: Mapping[str, Any] = field(default_factory=dict)


class ComputeService(ABC):
    @abstractmethod
    async def app_exists(self, app_id: str) -> bool:
        """Whether the service can run ``app_id``."""

    @abstractmethod
    async def submit(self, job_definition: Mapping[str, Any]) -> ComputeJob:
        """Submit a job; returns once the service has accepted it (status PENDING or later)."""

    @abstractmethod
    async def status(self, job_id: str) -> ComputeJob:
        """The job's current status; ``ComputeRejected`` for an unknown id."""

    @abstractmethod
    async def cancel(self, job_id: str) -> None:
        """Stop the job if it is still running; a finished job is left as it is."""
