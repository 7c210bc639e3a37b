"""The compute port over HTTP: a client of an Agave v2 / Tapis-style jobs API (httpx).

``POST {base}/jobs/v2/`` submits a job definition, ``GET {base}/jobs/v2/{id}`` reads it,
``POST {base}/jobs/v2/{id}`` with ``{"action": "stop"}`` cancels it and ``GET {base}/apps/v2/{id}``
tells whether an app exists. Answers come in Agave's envelope ``{"status": "success",
"message": ..., "result": {...}}``. Errors map onto the port: the service refusing a request
(HTTP 4xx) is ``ComputeRejected`` with the service's message; the service failing or out of
reach (5xx, connection errors, timeouts, malformed answers) is ``ComputeUnavailable``, which
callers retry. The bearer token goes in the ``Authorization`` header and nowhere else: it is
never logged, shown in ``repr`` or put in an error message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from pipelinejobs.compute.port import (
    ComputeJob,
    ComputeRejected,
    ComputeService,
    ComputeUnavailable,
)
from pipelinejobs.errors import InvalidInput
from pipelinejobs.logs import scrub

DEFAULT_TIMEOUT = 30.0
TERMINAL_STATUSES = frozenset(
    {"FINISHED", "FAILED", "STOPPED", "KILLED", "DELETED", "ARCHIVING_FAILED", "BLOCKED"}
)
_MESSAGE_LIMIT = 500


class AgaveClient(ComputeService):
    """An Agave v2 jobs service at ``base_url`` (e.g. ``https://api.tacc.cloud``)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url = _checked_base_url(base_url)
        if not isinstance(token, str) or not token or any(c.isspace() for c in token):
            raise InvalidInput(
                "the compute service token must be a non-empty string without whitespace"
            )
        self.timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"AgaveClient({self.base_url!r})"

    async def start(self) -> None:
        """Nothing to open: connections are made on first use."""

    async def close(self) -> None:
        await self._http.aclose()

    def job_link(self, job_id: str) -> str:
        return f"{self.base_url}/jobs/v2/{quote(job_id, safe='')}"

    async def app_exists(self, app_id: str) -> bool:
        """True for an app the token may use; 404 (unknown) and 403 (not shared) are False."""
        response = await self._send(
            "GET", f"/apps/v2/{_segment(app_id)}", "look up app", ok=(403, 404)
        )
        if response.status_code in (403, 404):
            return False
        _result(response, "look up app")
        return True

    async def submit(self, job_definition: Mapping[str, Any]) -> ComputeJob:
        try:
            payload = json.dumps(job_definition)
        except (TypeError, ValueError) as exc:
            raise ComputeRejected(f"job definition is not JSON: {exc}") from None
        response = await self._send(
            "POST",
            "/jobs/v2/",
            "submit job",
            content=payload,
            headers={"Content-Type": "application/json"},
        )
        return self._job(_result(response, "submit job"), "submit job")

    async def status(self, job_id: str) -> ComputeJob:
        response = await self._send("GET", f"/jobs/v2/{_segment(job_id)}", "read job")
        return self._job(_result(response, "read job"), "read job")

    async def cancel(self, job_id: str) -> None:
        """Stop the job; a job that has already ended is left as it is."""
        try:
            await self._send(
                "POST",
                f"/jobs/v2/{_segment(job_id)}",
                "stop job",
                content=json.dumps({"action": "stop"}),
                headers={"Content-Type": "application/json"},
            )
        except ComputeRejected:
            current = await self.status(job_id)
            if current.status.upper() in TERMINAL_STATUSES:
                return
            raise

    async def _send(
        self,
        method: str,
        path: str,
        action: str,
        *,
        ok: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise ComputeUnavailable(
                f"compute service at {self.base_url} did not answer ({action}) within "
                f"{self.timeout:g} s"
            ) from None
        except httpx.TransportError as exc:
            raise ComputeUnavailable(
                f"compute service at {self.base_url} cannot be reached ({action}): "
                f"{type(exc).__name__}: {scrub(str(exc))}"
            ) from None
        code = response.status_code
        if code in ok or 200 <= code < 300:
            return response
        message = _message(response)
        if code >= 500:
            raise ComputeUnavailable(
                f"compute service at {self.base_url} failed ({action}): HTTP {code}: {message}"
            )
        if 400 <= code < 500:
            raise ComputeRejected(f"compute service refused ({action}): HTTP {code}: {message}")
        raise ComputeRejected(
            f"compute service at {self.base_url} answered HTTP {code} ({action}); check the "
            "compute URL (PIPELINEJOBS_COMPUTE_URL), e.g. http:// where https:// is served"
        )

    def _job(self, result: Mapping[str, Any], action: str) -> ComputeJob:
        job_id, status = result.get("id"), result.get("status")
        if not isinstance(job_id, str) or not job_id or not isinstance(status, str):
            raise ComputeUnavailable(
                f"compute service at {self.base_url} answered ({action}) without a job id and "
                "status"
            )
        return ComputeJob(id=job_id, status=status, link=self.job_link(job_id), detail=result)


def _checked_base_url(base_url: str) -> str:
    parts = urlsplit(base_url) if isinstance(base_url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            f"compute service URL {scrub(str(base_url))!r} is not accepted; expected an "
            "http(s) URL such as https://api.tacc.cloud"
        )
    return base_url.rstrip("/")


def _segment(value: str) -> str:
    """One URL path segment: an id can never add path elements or a query."""
    if not isinstance(value, str) or not value:
        raise ComputeRejected(f"expected a non-empty id, got {value!r}")
    return quote(value, safe="")


def _envelope(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _message(response: httpx.Response) -> str:
    envelope = _envelope(response)
    if isinstance(envelope, Mapping):
        text = envelope.get("message") or envelope.get("fault") or envelope.get("detail")
        if text:
            return scrub(str(text))[:_MESSAGE_LIMIT]
    return scrub(response.text.strip())[:_MESSAGE_LIMIT] or response.reason_phrase


def _result(response: httpx.Response, action: str) -> Mapping[str, Any]:
    envelope = _envelope(response)
    if not isinstance(envelope, Mapping):
        raise ComputeUnavailable(f"compute service answered ({action}) with something not JSON")
    if envelope.get("status") != "success":
        raise ComputeRejected(
            f"compute service refused ({action}): {scrub(str(envelope.get('message')))}"
        )
    result = envelope.get("result")
    if not isinstance(result, Mapping):
        raise ComputeUnavailable(f"compute service answered ({action}) without a result object")
    return result
