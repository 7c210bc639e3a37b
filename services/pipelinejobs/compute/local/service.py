"""The local execution system: the embedded compute service, behaving as Agave would.

``submit`` checks the definition (known app, inputs, parameters against the app's schema,
``maxRunTime``), answers PENDING at once and runs the job in the background: QUEUED (waiting for
one of ``max_concurrent_jobs`` slots), RUNNING (inputs staged from storage, the app run as a
subprocess, killed when ``maxRunTime`` runs out), ARCHIVING (outputs copied to the archive path
through the storage port), then FINISHED, or FAILED with the reason at any step, or STOPPED when
cancelled. Each status is POSTed to the job's matching notification URLs over real HTTP, in
order, each retried through an outage of its receiver for hours (:mod:`.notifier`). App
processes die with this system, also when it is killed outright (:mod:`.process`).

A job's link is ``local://jobs/<id>`` (no HTTP endpoint serves local jobs; pass ``link_base``
to name one). Jobs are kept in memory: after a restart ``status`` no longer knows them, and a
job running when the system closes ends STOPPED. The work folder of a job that finished and
was archived is removed; a failed job's folder (with its logs) is kept for inspection.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from pipelinejobs.compute.apps import install_example_apps, install_example_inputs
from pipelinejobs.compute.local.definition import (
    DEFAULT_MAX_RUN_TIME,
    parse_job_definition,
    parse_max_run_time,
)
from pipelinejobs.compute.local.notifier import JobNotifier, RetryPolicy, expand_url
from pipelinejobs.compute.local.process import app_environment, run_process, tail
from pipelinejobs.compute.local.records import JobStatus, LocalJob
from pipelinejobs.compute.local.registry import App, AppRegistry
from pipelinejobs.compute.local.runner import (
    Workspace,
    archive_outputs,
    job_argv,
    plan_inputs,
    stage_inputs,
)
from pipelinejobs.compute.port import (
    ComputeJob,
    ComputeRejected,
    ComputeService,
    ComputeUnavailable,
)
from pipelinejobs.domain.agave_uri import agave_uri, require_system_name
from pipelinejobs.errors import InvalidInput, PermanentError, PipelineJobsError
from pipelinejobs.logs import process_logger
from pipelinejobs.storage.port import Storage

EXECUTION_SYSTEM = "local"
NOTIFY_TIMEOUT = 10.0
CLOSE_GRACE = 5.0
MAX_KEPT_JOBS = 10_000
_log = process_logger(component="local-execution")


class JobFailed(PermanentError):
    """A step of a job failed; the message is the job's ``lastStatusMessage``."""


class LocalExecutionSystem(ComputeService):
    """Runs registered apps as subprocesses and reports like an Agave jobs service."""

    def __init__(
        self,
        apps_dir: Path,
        storage: Storage,
        *,
        work_dir: Path,
        archive_system_default: str,
        http: httpx.AsyncClient | None = None,
        notify_retry: RetryPolicy | None = None,
        max_concurrent_jobs: int | None = None,
        example_apps: bool = False,
        owner: str = "pipelinejobs",
        link_base: str = "local://jobs",
        python: str = sys.executable,
    ) -> None:
        self.registry = AppRegistry(Path(apps_dir), python=python)
        self.storage = storage
        self.work_dir = Path(work_dir)
        self.archive_system_default = require_system_name(archive_system_default)
        self.owner = owner
        self.link_base = link_base.rstrip("/")
        self.python = python
        self._retry = notify_retry or RetryPolicy()
        self.example_apps = example_apps
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=NOTIFY_TIMEOUT, follow_redirects=False)
        self._slots = asyncio.Semaphore(max_concurrent_jobs or os.cpu_count() or 1)
        self._instance = f"{secrets.randbelow(10**12):012d}"
        self._counter = 0
        self._jobs: dict[str, LocalJob] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._notifiers: dict[str, JobNotifier] = {}
        self._closed = False
        self._reading: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create the work folder, install the example apps and put their example inputs on
        the storage systems (when asked: idempotent), and start reading the app manifests
        (problems are logged).

        The inputs come with the apps so that the documented launches find them on whatever
        system runs this service (one ``up`` process, or an ``actor agave-proxy`` process of a
        distributed system, whose storage the gateway need not share).

        The manifests are read in the background: a callable app's schema comes from a
        subprocess, which a process that never launches a job need not wait for. The first
        ``app_exists`` or ``submit`` waits for the reading to end.
        """
        await asyncio.to_thread(self.work_dir.mkdir, parents=True, exist_ok=True)
        if self.example_apps:
            await asyncio.to_thread(install_example_apps, self.registry.apps_dir)
            await install_example_inputs(self.storage)
        if self._reading is None:
            self._reading = asyncio.create_task(self._read_apps(), name="read-app-manifests")

    async def _read_apps(self) -> None:
        try:
            await self.registry.refresh()
        except OSError as exc:
            _log.warning("app manifests could not be read", reason=str(exc))

    async def close(self, grace: float = CLOSE_GRACE) -> None:
        """Stop running jobs (STOPPED), give pending notifications ``grace`` seconds, then
        cancel what is left."""
        if self._closed:
            return
        self._closed = True
        if self._reading is not None and not self._reading.done():
            self._reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reading
        for job_id in list(self._tasks):
            await self._stop(job_id, "the local execution system shut down")
        notifiers = list(self._notifiers.values())
        workers = {n.worker for n in notifiers if n.worker is not None and not n.worker.done()}
        if workers:
            await asyncio.wait(workers, timeout=grace)
        for notifier in notifiers:
            await notifier.cancel()
        if self._own_http:
            await self._http.aclose()

    # -- the port ----------------------------------------------------------------------------
    async def app_exists(self, app_id: str) -> bool:
        return await self.registry.get(app_id) is not None

    async def submit(self, job_definition: Mapping[str, Any]) -> ComputeJob:
        if self._closed:
            raise ComputeUnavailable("the local execution system is shut down")
        try:
            job, app = await self._accept(job_definition)
        except InvalidInput as exc:
            raise ComputeRejected(f"job definition refused: {exc}") from None
        self._jobs[job.id] = job
        self._forget_old_jobs()
        self._notify(job)
        self._tasks[job.id] = asyncio.create_task(self._run(job, app), name=f"job-{job.id}")
        _log.info("job accepted", job_id=job.id, app_id=job.app_id)
        return self._compute_job(job)

    async def status(self, job_id: str) -> ComputeJob:
        return self._compute_job(self._job(job_id))

    async def cancel(self, job_id: str) -> None:
        self._job(job_id)
        await self._stop(job_id, "stopped by request")

    # -- beyond the port ---------------------------------------------------------------------
    async def wait(self, job_id: str) -> ComputeJob:
        """Wait until the job has ended (FINISHED, FAILED or STOPPED)."""
        job = self._job(job_id)
        task = self._tasks.get(job_id)
        if task is not None:
            await asyncio.wait({task})
        return self._compute_job(job)

    async def wait_notified(self, job_id: str) -> None:
        """Wait until the ended job's notifications were all delivered or abandoned."""
        await self.wait(job_id)
        notifier = self._notifiers.get(job_id)
        if notifier is not None:
            await notifier.wait()

    # -- submission --------------------------------------------------------------------------
    async def _accept(self, definition: Mapping[str, Any]) -> tuple[LocalJob, App]:
        request = parse_job_definition(definition)
        app = await self.registry.get(request.app_id)
        if app is None:
            known = ", ".join(known.id for known in await self.registry.apps()) or "none"
            raise InvalidInput(
                f"appId {request.app_id!r} is not an app of the local execution system; "
                f"registered apps: {known}"
            )
        inputs = app.checked_inputs(request)
        parameters = app.checked_parameters(request.parameters)
        max_run_time = request.max_run_time or app.default_max_run_time or DEFAULT_MAX_RUN_TIME
        job_id = self._new_id()
        workspace = Workspace(self.work_dir / job_id)
        staged = plan_inputs(inputs, workspace)
        argv = job_argv(
            app,
            job_id=job_id,
            job_name=request.name,
            parameters=parameters,
            staged=staged,
            workspace=workspace,
            python=self.python,
        )
        job = LocalJob(
            id=job_id,
            request=request,
            app_id=app.id,
            link=f"{self.link_base}/{job_id}",
            owner=self.owner,
            execution_system=EXECUTION_SYSTEM,
            archive_system=request.archive_system or self.archive_system_default,
            archive_path=request.archive_path or f"/archive/jobs/job-{job_id}",
            parameters=parameters,
            staged=staged,
            argv=argv,
            max_run_time=max_run_time,
            workspace=workspace,
        )
        return job, app

    def _new_id(self) -> str:
        self._counter += 1
        return f"{self._instance}-{self._counter:04d}-local"

    # -- running -----------------------------------------------------------------------------
    async def _run(self, job: LocalJob, app: App) -> None:
        request = job.request
        try:
            self._change(job, JobStatus.QUEUED, "Waiting for a free slot")
            async with self._slots:
                await self._execute(job, app)
            if request.archive:
                await self._archive(job)
            else:
                self._change(job, JobStatus.FINISHED, "Job completed; archiving was not asked for")
        except asyncio.CancelledError:
            self._change(job, JobStatus.STOPPED, job.stop_reason or "stopped")
            raise
        except PipelineJobsError as exc:
            self._change(job, JobStatus.FAILED, str(exc))
        except Exception as exc:
            _log.exception("job failed unexpectedly", job_id=job.id)
            self._change(job, JobStatus.FAILED, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            self._tasks.pop(job.id, None)

    async def _execute(self, job: LocalJob, app: App) -> None:
        self._change(
            job,
            JobStatus.RUNNING,
            f"Staging {len(job.staged)} input file(s) and running app {app.id}",
        )
        try:
            await asyncio.to_thread(job.workspace.create)
        except OSError as exc:
            raise JobFailed(f"could not create the job's work folder: {exc}") from exc
        await stage_inputs(self.storage, job.staged)
        await self._run_app(job, app)

    async def _run_app(self, job: LocalJob, app: App) -> None:
        seconds = parse_max_run_time(job.max_run_time)
        environment = app_environment(
            {
                "AGAVE_JOB_ID": job.id,
                "AGAVE_JOB_NAME": job.request.name,
                "AGAVE_JOB_APP_ID": app.id,
            },
            apps_dir=self.registry.apps_dir,
        )
        try:
            outcome = await run_process(
                job.argv,
                cwd=job.workspace.outputs,
                env=environment,
                stdout=job.workspace.stdout,
                stderr=job.workspace.stderr,
                time_limit=seconds,
            )
        except OSError as exc:
            raise JobFailed(f"app {app.id} could not be started: {exc}") from exc
        if outcome.timed_out:
            raise JobFailed(f"Job exceeded maxRunTime {job.max_run_time}: app {app.id} was killed")
        if outcome.returncode != 0:
            reason = tail(job.workspace.stderr) or "no output on stderr"
            raise JobFailed(f"app {app.id} exited with code {outcome.returncode}: {reason}")

    async def _archive(self, job: LocalJob) -> None:
        destination = agave_uri(job.archive_system, job.archive_path)
        self._change(job, JobStatus.ARCHIVING, f"Archiving outputs to {destination}")
        try:
            archived = await archive_outputs(
                self.storage, job.workspace.outputs, job.archive_system, job.archive_path
            )
        except (PipelineJobsError, OSError) as exc:
            raise JobFailed(f"archiving outputs to {destination} failed: {exc}") from exc
        self._change(
            job,
            JobStatus.FINISHED,
            f"Job completed; {len(archived)} output file(s) archived to {destination}",
        )
        await asyncio.to_thread(job.workspace.remove)

    async def _stop(self, job_id: str, reason: str) -> None:
        task = self._tasks.get(job_id)
        job = self._jobs[job_id]
        if task is not None:
            if not job.finished:
                job.stop_reason = reason
                task.cancel()
            await asyncio.wait({task})
        self._tasks.pop(job_id, None)
        self._change(job, JobStatus.STOPPED, reason)  # when cancelled before it started

    # -- statuses and notifications ----------------------------------------------------------
    def _change(self, job: LocalJob, status: JobStatus, message: str) -> None:
        if job.finished:
            return
        job.change(status, message)
        _log.info("job status", job_id=job.id, status=status.value, message=message)
        self._notify(job)

    def _notify(self, job: LocalJob) -> None:
        """Queue the POSTs this status calls for; after the last status, end the queue."""
        body = job.body()
        notifier = self._notifiers.get(job.id)
        for index, notification in enumerate(job.request.notifications):
            if not notification.matches(job.status):
                continue
            if not notification.persistent and index in job.notified:
                continue
            job.notified.add(index)
            if notifier is None:
                notifier = JobNotifier(job.id, self._http, self._retry)
                self._notifiers[job.id] = notifier
            notifier.post(expand_url(notification.url, body), body)
        if job.finished and notifier is not None:
            notifier.close()

    def _compute_job(self, job: LocalJob) -> ComputeJob:
        return ComputeJob(id=job.id, status=job.status.value, link=job.link, detail=job.body())

    def _job(self, job_id: str) -> LocalJob:
        job = self._jobs.get(job_id)
        if job is None:
            raise ComputeRejected(
                f"no job {job_id!r} on the local execution system (jobs are kept in memory "
                "until it restarts)"
            )
        return job

    def _forget_old_jobs(self) -> None:
        """Keep at most ``MAX_KEPT_JOBS`` records: the oldest ended jobs go first."""
        excess = len(self._jobs) - MAX_KEPT_JOBS
        for job_id in list(self._jobs):
            if excess <= 0:
                return
            if self._jobs[job_id].finished:
                del self._jobs[job_id]
                notifier = self._notifiers.get(job_id)
                if notifier is None or notifier.done:
                    self._notifiers.pop(job_id, None)
                excess -= 1
