"""Job notifications: an HTTP POST of the job body to each matching URL, in order per job.

Each job has its own queue and one worker, so its receiver sees PENDING before QUEUED before
RUNNING... even when a POST has to be retried. A POST that fails with a connection error, a
timeout, HTTP 429 or 5xx (the gateway is down or restarting, its store or broker is) is retried
with capped exponential backoff (``base``, doubled per attempt, at most ``max_delay``) until it
is delivered or its retry ``horizon`` has passed, and only then is the job's next notification
sent. The horizon is long by default (:data:`DEFAULT_HORIZON`, a day; the factory reads
``PIPELINEJOBS_NOTIFY_RETRY_HORIZON``): a FINISHED or FAILED notification that is dropped leaves
the job RUNNING forever, so an outage of the gateway must cost time, not the job's end. Every
failed attempt is logged (a warning with the reason and the next pause); a notification given
up at the horizon is logged as an error. Any other 4xx is the receiver refusing the content; it
is logged and not retried. Jobs do not wait for each other. URLs carry tokens and nonces, so
they are logged only through ``scrub``.

Each notification carries an ``X-Message-Id`` header, the job id and the notification's number
(``<job id>/<n>``): the same on every retry of it, different for every other notification. A
retry whose first attempt reached the gateway before its reply was lost (the gateway crashed)
is then recognized by the gateway as the same message and applied once.

Notifications live in memory: those still being retried when the system shuts down get its
close grace period and are then dropped, as they are if the process dies.

URL macros (Agave's), substituted URL-encoded: ``${JOB_STATUS}`` (also ``${STATUS}`` and
``${EVENT}``), ``${JOB_ID}``, ``${JOB_NAME}``, ``${JOB_APP_ID}``, ``${JOB_SYSTEM}``,
``${JOB_ARCHIVE_PATH}``, ``${JOB_OWNER}`` and ``${JOB_ERROR}`` (the status message of a FAILED
job, empty otherwise). Unknown macros are left as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from pipelinejobs.logs import process_logger, scrub

_MACRO = re.compile(r"\$\{([A-Z_]+)\}")
_FAILED = "FAILED"
MESSAGE_ID_HEADER = "X-Message-Id"
_log = process_logger(component="local-execution")


DEFAULT_HORIZON = 24 * 3600.0
"""Seconds a notification is retried before it is given up: a day."""


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff of a failed notification: ``base``, doubled per attempt, at most ``max_delay``,
    for ``horizon`` seconds after its first attempt."""

    base: float = 0.5
    max_delay: float = 30.0
    horizon: float = DEFAULT_HORIZON

    def __post_init__(self) -> None:
        if self.base <= 0 or self.max_delay < self.base or self.horizon < 0:
            raise ValueError(
                "notification retry needs base > 0, max delay >= base and horizon >= 0 "
                f"seconds, got ({self.base}, {self.max_delay}, {self.horizon})"
            )

    def delay(self, attempt: int) -> float:
        """The pause after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.max_delay, self.base * 2 ** min(attempt - 1, 62)))

    def retries(self, elapsed: float, pause: float) -> bool:
        """Whether to try again after ``pause``, ``elapsed`` seconds after the first attempt."""
        return elapsed + pause <= self.horizon


def expand_url(template: str, job: Mapping[str, Any]) -> str:
    """The URL with Agave's ``${...}`` macros replaced by the job's (URL-encoded) values."""
    status = str(job.get("status", ""))
    values = {
        "JOB_STATUS": status,
        "STATUS": status,
        "EVENT": status,
        "JOB_ID": job.get("id"),
        "JOB_NAME": job.get("name"),
        "JOB_APP_ID": job.get("appId"),
        "JOB_SYSTEM": job.get("executionSystem"),
        "JOB_ARCHIVE_PATH": job.get("archivePath"),
        "JOB_OWNER": job.get("owner"),
        "JOB_ERROR": job.get("lastStatusMessage") if status == _FAILED else "",
    }

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        value = values[name]
        return quote("" if value is None else str(value), safe="")

    return _MACRO.sub(substitute, template)


@dataclass(frozen=True)
class _Delivery:
    url: str
    body: bytes
    status: str
    notification_id: str


class JobNotifier:
    """Delivers the notifications of one job, one after the other."""

    def __init__(self, job_id: str, http: httpx.AsyncClient, retry: RetryPolicy) -> None:
        self.job_id = job_id
        self._http = http
        self._retry = retry
        self._queue: asyncio.Queue[_Delivery | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self.delivered = 0
        self.abandoned = 0
        self._posted = 0

    def post(self, url: str, job: Mapping[str, Any]) -> None:
        """Queue a POST of ``job`` to ``url`` (macros already expanded)."""
        body = json.dumps(job, separators=(",", ":")).encode()
        self._posted += 1
        notification_id = f"{self.job_id}/{self._posted}"
        self._queue.put_nowait(_Delivery(url, body, str(job.get("status", "")), notification_id))
        self._start()

    def close(self) -> None:
        """No more notifications will come: the worker ends once the queue is empty."""
        self._queue.put_nowait(None)
        self._start()

    @property
    def worker(self) -> asyncio.Task[None] | None:
        """The task delivering this job's notifications (None until the first one)."""
        return self._worker

    @property
    def done(self) -> bool:
        return self._worker is not None and self._worker.done()

    async def wait(self) -> None:
        """Wait until every queued notification was delivered or abandoned (after ``close``)."""
        if self._worker is not None:
            await asyncio.wait({self._worker})

    async def cancel(self) -> None:
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    def _start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name=f"notify-{self.job_id}")

    async def _run(self) -> None:
        while True:
            delivery = await self._queue.get()
            if delivery is None:
                return
            if await self._deliver(delivery):
                self.delivered += 1
            else:
                self.abandoned += 1

    async def _deliver(self, delivery: _Delivery) -> bool:
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            problem = await self._attempt(delivery)
            if problem is None:
                return True
            retry, reason = problem
            pause = self._retry.delay(attempt)
            elapsed = time.monotonic() - started
            if not retry:
                _log.warning(
                    "job notification refused by its receiver; not retried",
                    job_id=self.job_id,
                    status=delivery.status,
                    url=scrub(delivery.url),
                    reason=reason,
                )
                return False
            if not self._retry.retries(elapsed, pause):
                _log.error(
                    "job notification abandoned: its retry horizon has passed",
                    job_id=self.job_id,
                    status=delivery.status,
                    url=scrub(delivery.url),
                    attempts=attempt,
                    seconds=round(elapsed, 1),
                    horizon=self._retry.horizon,
                    reason=reason,
                )
                return False
            _log.warning(
                "job notification failed; retrying",
                job_id=self.job_id,
                status=delivery.status,
                url=scrub(delivery.url),
                attempt=attempt,
                retry_in=pause,
                reason=reason,
            )
            await asyncio.sleep(pause)

    async def _attempt(self, delivery: _Delivery) -> tuple[bool, str] | None:
        """None when delivered; else (worth retrying, reason)."""
        try:
            response = await self._http.post(
                delivery.url,
                content=delivery.body,
                headers={
                    "Content-Type": "application/json",
                    MESSAGE_ID_HEADER: delivery.notification_id,
                },
            )
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            return False, f"bad URL: {scrub(str(exc))}"
        except httpx.TransportError as exc:
            return True, f"{type(exc).__name__}: {scrub(str(exc))}"
        code = response.status_code
        if code < 400:
            return None
        reason = f"HTTP {code}: {scrub(response.text[:300])}"
        return (code == 429 or code >= 500), reason
