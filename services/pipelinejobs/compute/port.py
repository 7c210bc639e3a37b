"""The compute-service port: where jobs' heavy lifting runs (Agave v2 / Tapis style).

A job definition is the Agave v2 shape: ``appId``, ``name``, ``inputs``, ``parameters``,
``maxRunTime``, ``archive``, ``archiveSystem``, ``archivePath``, ``notifications`` (a list of
``{event, url, persistent}``). Services report progress by calling the notification URLs with an
Agave-shaped job body; no caller waits for a compute job to end.

Who calls what (both adapters, :class:`~pipelinejobs.compute.agave.AgaveClient` and the local
execution system, implement all four methods; ``tests/contract/compute`` holds them to the same
contract):

- ``app_exists`` and ``submit``: the agave-proxy, for each launch (the only caller in the
  system; processes that do not run the agave-proxy do not even start the service);
- ``cancel``, then ``status``: the agave-proxy, when the jobs-manager asks it to cancel the
  compute job of a launched job that failed or was reset (``domain.launches``). A job's state
  still comes only from the callbacks; nothing polls a compute service, so a callback that
  never arrives leaves the job RUNNING (the local execution system retries its notifications
  for hours for this reason).
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
