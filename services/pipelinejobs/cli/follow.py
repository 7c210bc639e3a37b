"""``pipelinejobs jobs follow UUID``: a job's events as they are recorded, until it settles.

It polls the job (``GET /jobs/{uuid}``) every ``--interval`` seconds and prints each event its
history did not have before, oldest first: the events already recorded, then the new ones.
It stops when the job is in a final state: exit code 0 for FINISHED, VALIDATED and FINALIZED
(the job's outputs are there), 1 for FAILED, REJECTED and RETIRED (they are not), and 1 too
when ``--timeout`` runs out first; 3 when the gateway cannot be reached, as everywhere.

A job that has just finished with archive patterns is about to be indexed (``index`` and
``indexed`` follow ``finish`` automatically): it is followed on until its indexing has been
recorded, or for :data:`INDEX_GRACE` seconds when none starts (automatic indexing can be off).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Annotated, Any

import typer

from pipelinejobs.cli.connection import DEFAULT_URL, JsonOption, TokenOption, UrlOption, connect
from pipelinejobs.cli.output import ExitCode, fail, progress, reports_errors
from pipelinejobs.cli.read import UuidArgument, summary
from pipelinejobs.client.sync import JobsClient
from pipelinejobs.domain.states import JobEvent, JobState

FINAL_STATES = {
    JobState.FINISHED: ExitCode.OK,
    JobState.VALIDATED: ExitCode.OK,
    JobState.FINALIZED: ExitCode.OK,
    JobState.FAILED: ExitCode.REFUSED,
    JobState.REJECTED: ExitCode.REFUSED,
    JobState.RETIRED: ExitCode.REFUSED,
}
"""States a followed job stops in, and the exit code each gives."""
INDEX_GRACE = 10.0
"""Seconds a finished job with archive patterns is followed on for its indexing to start."""


@reports_errors
def jobs_follow(
    uuid: UuidArgument,
    interval: Annotated[
        float, typer.Option("--interval", help="Seconds between polls.", min=0.1, max=60)
    ] = 1.0,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="Give up (exit 1) after this many seconds.", min=0.1),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print each new event of a job as it is recorded; exit when the job reaches a final
    state (0: FINISHED, VALIDATED, FINALIZED; 1: FAILED, REJECTED, RETIRED, or --timeout)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    seen = 0
    finished_since: float | None = None
    with connect(url, token) as gateway:
        jobs = JobsClient(gateway)
        while True:
            job = jobs.get(uuid)
            if seen == 0:
                progress(f"Following job {uuid} ({job.get('state')}); Ctrl+C stops")
            while True:  # the events page by page, however long the history (versions 1, 2...)
                page = jobs.history_page(uuid, after=seen)
                for event in page["items"]:
                    _print_event({k: v for k, v in event.items() if k != "version"}, as_json)
                    seen = max(seen, int(event.get("version", seen + 1)))
                if page.get("next") is None:
                    break
            state = JobState(str(job["state"]))
            if state in FINAL_STATES:
                if not _indexing_due(job):
                    break
                finished_since = finished_since or time.monotonic()
                if time.monotonic() - finished_since >= INDEX_GRACE:
                    break
            if deadline is not None and time.monotonic() >= deadline:
                raise fail(f"job {uuid} is still {state.value} after {timeout:g} s")
            time.sleep(interval)
    progress(f"Job {uuid} is {state.value}")
    if FINAL_STATES[state] != ExitCode.OK:
        raise typer.Exit(int(FINAL_STATES[state]))


def _indexing_due(job: Mapping[str, Any]) -> bool:
    """Whether the job has just finished and its automatic indexing has yet to be recorded."""
    return job.get("last_event") == JobEvent.FINISH and bool(job.get("archive_patterns"))


def _print_event(event: Mapping[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(event, sort_keys=True, default=str))
        return
    line = f"{event.get('date')}  {event.get('name')!s:<9}  {summary(event.get('data'))}"
    typer.echo(line.rstrip())
