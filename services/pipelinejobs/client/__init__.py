"""The Python SDK: talk to a pipelinejobs gateway over HTTP.

Asynchronous first (these names); :mod:`pipelinejobs.client.sync` has the same classes with
blocking methods for scripts.

- :class:`AsyncGateway`: send messages to actors, wait for executions, read their logs, manage
  nonces, GET the read API;
- :class:`PipelinesClient`, :class:`JobsClient`: pipelines and jobs (with history, files and
  the events a job accepts next); :class:`CatalogClient`, :class:`FilesClient`: the catalog
  records jobs are linked to, and the indexed files with the jobs that made them;
- :class:`ManagedPipelineJob`: an agent's handle on the job it runs (``setup``, ``run``,
  ``finish``..., its callback URL and Agave notifications).
"""

from pipelinejobs.client.errors import (
    ExecutionFailed,
    ExecutionTimedOut,
    GatewayUnavailable,
    GatewayUnreachable,
    JobNotReady,
    NotAGateway,
    RequestRefused,
)
from pipelinejobs.client.gateway import AsyncGateway
from pipelinejobs.client.managed_job import ManagedPipelineJob
from pipelinejobs.client.readers import CatalogClient, FilesClient, JobsClient, PipelinesClient

__all__ = [
    "AsyncGateway",
    "CatalogClient",
    "ExecutionFailed",
    "ExecutionTimedOut",
    "FilesClient",
    "GatewayUnavailable",
    "GatewayUnreachable",
    "JobNotReady",
    "JobsClient",
    "ManagedPipelineJob",
    "NotAGateway",
    "PipelinesClient",
    "RequestRefused",
]
