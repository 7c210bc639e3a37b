"""The walkthrough of ``docs/walkthrough.md``, run by the SDK against a gateway
(``pipelinejobs demo``).

Register the documentation's pipeline (and update it with its token), launch the documented
TACObot job through the agave-proxy, follow it on the local execution system through its
callbacks to FINISHED and indexed, list its output files, then launch two jobs that fail (one
while staging a missing input, one whose app fails) and read why. Every launch carries a
``demo_run`` label in its data, so each run makes new jobs (the same launch would name the same
job, which has already run).

The walk first prepares what it needs through the gateway, so it runs against any system,
embedded (``pipelinejobs up``) or distributed (gateway and actor processes on RabbitMQ): the demo
catalog (``POST /catalog``, idempotent; it takes an admin token, and without one the records are
assumed loaded) and the demo pipeline (a message to the pipelines-manager, unless an ACTIVE
pipeline already runs the TACObot app). The example inputs come with the example apps: the
local execution system puts them on its storage systems wherever it runs.

A walk that does not go as documented raises ``WalkthroughFailed`` (the TACObot job did not end
FINISHED and indexed, or a failing job did not end FAILED) or ``WalkthroughTimedOut``: a demo
that prints a failed job and exits 0 would tell a newcomer the system works when it does not.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipelinejobs.client import (
    AsyncGateway,
    ExecutionFailed,
    JobsClient,
    PipelinesClient,
    RequestRefused,
)
from pipelinejobs.compute.apps import TACOBOT_ID
from pipelinejobs.demo.content import (
    DEMO_CATALOG,
    DEMO_PIPELINE,
    DOCUMENTED_PIPELINE,
    UPDATED_DESCRIPTION,
    app_failing_launch,
    failing_launch,
    tacobot_launch,
)
from pipelinejobs.domain.actors import AGAVE_PROXY
from pipelinejobs.errors import NotFound, PermanentError, TransientError

DEFAULT_TIMEOUT = 180.0
POLL = 0.25
Report = Callable[[str], None]


FINISHED = "FINISHED"
FAILED = "FAILED"
INDEXED = "indexed"
FAIL = "fail"
FORBIDDEN = 403


class WalkthroughTimedOut(TransientError, TimeoutError):
    """A job did not reach the end of its walk in time."""


class WalkthroughFailed(PermanentError):
    """A job did not end as the walkthrough documents; ``job`` is its record."""

    def __init__(self, message: str, job: dict[str, Any]) -> None:
        self.job = job
        super().__init__(message)


def failure_reason(job: dict[str, Any]) -> str | None:
    """The reason recorded by the job's last ``fail`` event (None when it has none)."""
    for event in reversed(job.get("history", [])):
        if event.get("name") == FAIL:
            data = event.get("data") or {}
            reason = data.get("lastStatusMessage") or data.get("description") or data.get("error")
            return str(reason or data)
    return None


@dataclass
class Walkthrough:
    """What the walkthrough made and saw."""

    documented_pipeline: str = ""
    demo_pipeline: str = ""
    job: dict[str, Any] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)
    failed_job: dict[str, Any] = field(default_factory=dict)
    app_failed_job: dict[str, Any] = field(default_factory=dict)

    @property
    def failure_reason(self) -> str | None:
        """Why the job with the missing input failed (its ``fail`` event's reason)."""
        return failure_reason(self.failed_job)

    @property
    def app_failure_reason(self) -> str | None:
        """Why the job whose app failed failed: the app's own words (its stderr tail)."""
        return failure_reason(self.app_failed_job)


def _quiet(_line: str) -> None:
    """Default reporter: say nothing."""


async def run_walkthrough(
    gateway: AsyncGateway,
    *,
    report: Report = _quiet,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 (bounds each job's walk, named on expiry)
    label: str | None = None,
) -> Walkthrough:
    """Run the walkthrough; ``report`` gets one line per step and per job event."""
    label = label or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)
    pipelines, jobs = PipelinesClient(gateway), JobsClient(gateway)
    result = Walkthrough()
    await gateway.ready()
    report(f"Gateway {gateway.base_url} is ready")

    await _load_demo_catalog(gateway, report)
    result.demo_pipeline = await _demo_pipeline(pipelines, report)
    result.documented_pipeline = await _register_documented_pipeline(pipelines, report)
    report(f"Demo pipeline {result.demo_pipeline} runs {TACOBOT_ID}")

    launched = await gateway.call(AGAVE_PROXY, tacobot_launch({"demo_run": label}))
    report(f"Launched job {launched['uuid']} as compute job {launched.get('job_id')}")
    result.job = await _follow(jobs, str(launched["uuid"]), report, timeout)
    _expect_finished_and_indexed(result.job)
    result.files = await jobs.files(str(launched["uuid"]))
    for file in result.files:
        report(f"Indexed {file.get('name')} at level {file.get('level')}")

    doomed = await gateway.call(AGAVE_PROXY, failing_launch({"demo_run": label}))
    report(f"Launched job {doomed['uuid']}, whose input file does not exist")
    result.failed_job = await _follow(jobs, str(doomed["uuid"]), report, timeout)
    _expect_failed(result.failed_job, "its input file does not exist")
    report(f"Job {doomed['uuid']} FAILED: {result.failure_reason}")

    broken = await gateway.call(AGAVE_PROXY, app_failing_launch({"demo_run": label}))
    report(f"Launched job {broken['uuid']}, which counts the words of a picture")
    result.app_failed_job = await _follow(jobs, str(broken["uuid"]), report, timeout)
    _expect_failed(result.app_failed_job, "its app refuses input that is not text")
    report(f"Job {broken['uuid']} FAILED: {result.app_failure_reason}")
    return result


def _expect_finished_and_indexed(job: dict[str, Any]) -> None:
    names = [event.get("name") for event in job.get("history", [])]
    if job.get("state") == FINISHED and INDEXED in names:
        return
    reason = failure_reason(job)
    raise WalkthroughFailed(
        f"job {job.get('uuid')} should end FINISHED and indexed, but it is {job.get('state')} "
        f"after {', '.join(str(n) for n in names)}"
        + (f": {reason}" if reason else "")
        + f"; read its record with `pipelinejobs jobs show {job.get('uuid')}`",
        job,
    )


def _expect_failed(job: dict[str, Any], why: str) -> None:
    if job.get("state") == FAILED and failure_reason(job):
        return
    raise WalkthroughFailed(
        f"job {job.get('uuid')} should end FAILED with a reason ({why}), but it is "
        f"{job.get('state')} after "
        f"{', '.join(str(event.get('name')) for event in job.get('history', []))}",
        job,
    )


async def _register_documented_pipeline(pipelines: PipelinesClient, report: Report) -> str:
    """Register the documentation's pipeline and update its description with the update
    token; when an earlier run registered it, find it instead."""
    try:
        created = await pipelines.create(DOCUMENTED_PIPELINE)
    except ExecutionFailed as exc:
        if "already exists" not in exc.error:
            raise
        uuid = await _pipeline_with(pipelines, DOCUMENTED_PIPELINE["components"])
        report(f"Pipeline {uuid} ({DOCUMENTED_PIPELINE['name']}) was registered earlier")
        return uuid
    uuid, token = str(created["uuid"]), str(created["token"])
    report(f"Registered pipeline {uuid} with update token {token}")
    await pipelines.update(uuid, {"description": UPDATED_DESCRIPTION}, token)
    report(f"Updated pipeline {uuid}'s description with its token")
    return uuid


async def _pipeline_with(pipelines: PipelinesClient, components: list[Any]) -> str:
    offset = 0
    while True:
        page = await pipelines.list(limit=100, offset=offset)
        for pipeline in page:
            if pipeline.get("components") == components:
                return str(pipeline["uuid"])
        if len(page) < 100:
            raise NotFound("no pipeline has the documented pipeline's components")
        offset += 100


async def _load_demo_catalog(gateway: AsyncGateway, report: Report) -> None:
    """Load the demo catalog through the gateway (idempotent). Loading takes an admin; with
    another token the records are taken to be there (a launch names any that are not)."""
    try:
        loaded = await gateway.load_catalog(DEMO_CATALOG)
    except RequestRefused as exc:
        if exc.status != FORBIDDEN:
            raise
        report(f"Demo catalog not loaded ({exc.detail}); using the records already there")
        return
    report(
        "Demo catalog loaded: "
        + ", ".join(f"{count} {section}" for section, count in loaded.items() if count)
    )


async def _demo_pipeline(pipelines: PipelinesClient, report: Report) -> str:
    """An ACTIVE pipeline running the TACObot app: one already there (``pipelinejobs up``
    registers the demo pipeline), else the demo pipeline, registered now."""
    found = await _active_pipeline_running(pipelines, TACOBOT_ID)
    if found is not None:
        return found
    try:
        created = await pipelines.create(DEMO_PIPELINE)
    except ExecutionFailed as exc:
        if "already exists" not in exc.error:
            raise
        raise NotFound(
            f"no ACTIVE pipeline runs {TACOBOT_ID}, and the demo pipeline exists but is not "
            f"ACTIVE (retired?): {exc.error}"
        ) from None
    report(f"Registered the demo pipeline {created['uuid']}")
    return str(created["uuid"])


async def _active_pipeline_running(pipelines: PipelinesClient, app_id: str) -> str | None:
    for pipeline in await pipelines.list(state="ACTIVE", limit=500):
        ids = [component.get("id") for component in pipeline.get("components", [])]
        if app_id in ids:
            return str(pipeline["uuid"])
    return None


async def _follow(jobs: JobsClient, uuid: str, report: Report, within: float) -> dict[str, Any]:
    """Poll the job, reporting each new history event, until its walk ends: ``indexed`` (it
    finished and its outputs are linked) or ``fail``."""
    deadline = time.monotonic() + within
    seen, state = 0, None
    while True:
        job = await jobs.get(uuid)
        history = job.get("history", [])
        for event in history[seen:]:
            report(f"  event {event.get('name')}")
        seen = len(history)
        if job.get("state") != state:
            state = job.get("state")
            report(f"  job is {state}")
        names = {event.get("name") for event in history}
        if INDEXED in names or FAIL in names:
            return job
        if time.monotonic() > deadline:
            raise WalkthroughTimedOut(
                f"job {uuid} is {job.get('state')} after {within:g} s; follow it with "
                f"`pipelinejobs jobs history {uuid}`"
            )
        await asyncio.sleep(POLL)
