"""The local execution system: registered apps run as subprocesses, reported like Agave jobs."""

from pipelinejobs.compute.local.notifier import RetryPolicy
from pipelinejobs.compute.local.records import JobStatus
from pipelinejobs.compute.local.registry import App, AppRegistry
from pipelinejobs.compute.local.service import LocalExecutionSystem

__all__ = ["App", "AppRegistry", "JobStatus", "LocalExecutionSystem", "RetryPolicy"]
