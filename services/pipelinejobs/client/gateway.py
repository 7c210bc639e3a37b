"""The gateway over HTTP: send messages to actors, follow their executions, read documents.

``AsyncGateway`` is the one place the SDK speaks HTTP; the pipelines, jobs and managed-job
clients are built on it. It authenticates with a Bearer token, a nonce, or both (the token
decides where both are sent, as the gateway does). A nonce only opens an actor's routes (its
messages and executions), and each request with it uses it once, so :meth:`AsyncGateway.wait`
polls with a growing interval to spend few uses.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, urlsplit

import httpx

from pipelinejobs.client.errors import (
    ExecutionFailed,
    ExecutionTimedOut,
    GatewayUnavailable,
    GatewayUnreachable,
    NotAGateway,
    RequestRefused,
)
from pipelinejobs.errors import InvalidInput

DEFAULT_TIMEOUT = 30.0
"""Seconds for one HTTP request."""
DEFAULT_WAIT = 60.0
"""Seconds :meth:`AsyncGateway.wait` waits for an execution by default."""
FIRST_POLL = 0.05
LAST_POLL = 1.0
FINAL_STATUSES = frozenset({"COMPLETE", "ERROR"})
NONCE_HEADER = "X-Nonce"


class AsyncGateway:
    """A pipelinejobs gateway at ``base_url`` (e.g. ``http://127.0.0.1:8000``).

    ``transport`` replaces the network (tests pass ``httpx.ASGITransport(app)``). A
    ``base_url`` that is not an http(s) URL with a host is refused (``InvalidInput``) at once,
    rather than at the first request.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        nonce: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url = checked_base_url(base_url)
        self.token = token
        self.nonce = nonce
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        auth = "token" if self.token else "nonce" if self.nonce else "anonymous"
        return f"AsyncGateway({self.base_url!r}, {auth})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- actors ------------------------------------------------------------------------------
    def messages_url(self, actor: str) -> str:
        """The URL messages to ``actor`` are POSTed to (what callback URLs are made of)."""
        return f"{self.base_url}/actors/v2/{quote(actor, safe='')}/messages"

    async def send(
        self,
        actor: str,
        document: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        *,
        message_id: str | None = None,
    ) -> str:
        """Send a message (JSON body and/or URL parameters); returns its execution id.

        ``message_id`` makes a retried send one message (the gateway's ``X-Message-Id``).
        """
        headers = self._nonce_header()
        if message_id is not None:
            headers["X-Message-Id"] = message_id
        path = f"/actors/v2/{quote(actor, safe='')}/messages"
        reply = await self._request(
            "POST",
            path,
            json=dict(document) if document is not None else None,
            params=dict(params or {}),
            headers=headers,
        )
        return str(self._field(reply, "POST", path, "result", "executionId"))

    async def execution(self, actor: str, execution_id: str) -> dict[str, Any]:
        """The execution: ``status`` (SUBMITTED, RUNNING, COMPLETE, ERROR), ``result``,
        ``error`` and timestamps."""
        path = self._execution_path(actor, execution_id)
        reply = await self._request("GET", path, headers=self._nonce_header())
        result = self._field(reply, "GET", path, "result")
        if not isinstance(result, dict):
            raise self.not_a_gateway("GET", path, "an execution object under result")
        return result

    async def logs(self, actor: str, execution_id: str) -> str:
        """The execution's log lines, joined by newlines."""
        path = self._execution_path(actor, execution_id) + "/logs"
        reply = await self._request("GET", path, headers=self._nonce_header())
        return str(self._field(reply, "GET", path, "result", "logs"))

    async def wait(
        self,
        actor: str,
        execution_id: str,
        timeout: float = DEFAULT_WAIT,  # noqa: ASYNC109 (the error names the status it saw)
    ) -> dict[str, Any]:
        """Poll until the execution is COMPLETE (returned) or ERROR (``ExecutionFailed`` with
        the actor's reason); ``ExecutionTimedOut`` when ``timeout`` seconds pass first."""
        deadline = time.monotonic() + timeout
        interval = FIRST_POLL
        while True:
            execution = await self.execution(actor, execution_id)
            status = str(execution.get("status"))
            if status == "ERROR":
                error = str(execution.get("error") or "no reason recorded")
                raise ExecutionFailed(actor, execution_id, error, execution)
            if status in FINAL_STATUSES:
                return execution
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ExecutionTimedOut(actor, execution_id, status, timeout)
            await asyncio.sleep(min(interval, remaining))
            interval = min(interval * 2, LAST_POLL)

    async def call(
        self,
        actor: str,
        document: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        *,
        timeout: float = DEFAULT_WAIT,  # noqa: ASYNC109 (passed on to wait)
    ) -> dict[str, Any]:
        """Send and wait: the actor's reply (the execution's ``result``)."""
        execution_id = await self.send(actor, document, params)
        execution = await self.wait(actor, execution_id, timeout)
        result = execution.get("result")
        return dict(result) if isinstance(result, Mapping) else {}

    # -- nonces ------------------------------------------------------------------------------
    async def create_nonce(
        self,
        actor: str,
        *,
        level: str = "EXECUTE",
        max_uses: int = -1,
        description: str = "",
        expires_in: int | None = None,
    ) -> dict[str, Any]:
        """A new nonce for ``actor`` acting as you; its ``id`` is the value for ``x-nonce``."""
        request: dict[str, Any] = {"level": level, "maxUses": max_uses}
        if description:
            request["description"] = description
        if expires_in is not None:
            request["expiresIn"] = expires_in
        path = f"/actors/v2/{quote(actor, safe='')}/nonces"
        reply = await self._request("POST", path, json=request)
        result = self._field(reply, "POST", path, "result")
        if not isinstance(result, dict):
            raise self.not_a_gateway("POST", path, "a nonce object under result")
        return result

    async def list_nonces(self, actor: str) -> list[dict[str, Any]]:
        """Your nonces for ``actor`` (every user's, for an admin)."""
        path = f"/actors/v2/{quote(actor, safe='')}/nonces"
        listed = self._field(await self._request("GET", path), "GET", path, "result")
        if not isinstance(listed, list) or not all(isinstance(n, dict) for n in listed):
            raise self.not_a_gateway("GET", path, "a list of nonce objects under result")
        return [dict(nonce) for nonce in listed]

    async def delete_nonce(self, actor: str, nonce_id: str) -> None:
        """Delete a nonce: it authorizes nothing from then on."""
        await self._request(
            "DELETE", f"/actors/v2/{quote(actor, safe='')}/nonces/{quote(nonce_id, safe='')}"
        )

    # -- read API and health -----------------------------------------------------------------
    async def dead_letters(
        self, actor: str | None = None, *, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The oldest dead-lettered messages of ``actor`` (of every actor when None), with
        the reason each was given up; admins only."""
        path = "/dead-letters"
        params: dict[str, Any] = {"limit": limit}
        if actor is not None:
            params["actor"] = actor
        reply = await self._request("GET", path, params=params)
        listed = self._field(reply, "GET", path, "result")
        if not isinstance(listed, list) or not all(isinstance(d, dict) for d in listed):
            raise self.not_a_gateway("GET", path, "a list of dead letters under result")
        return [dict(letter) for letter in listed]

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a read-API path (``/jobs/<uuid>``, ``/pipelines``, ``/files``...)."""
        query = {key: value for key, value in (params or {}).items() if value is not None}
        return await self._request("GET", path, params=query)

    async def load_catalog(self, document: Mapping[str, Any]) -> dict[str, int]:
        """``POST /catalog`` (admin): load catalog records, idempotently; how many of each
        section the document held."""
        reply = await self._request("POST", "/catalog", json=document)
        loaded = self._field(reply, "POST", "/catalog", "loaded")
        if not isinstance(loaded, dict):
            raise self.not_a_gateway("POST", "/catalog", "counts under loaded")
        return {str(section): int(count) for section, count in loaded.items()}

    async def ready(self) -> dict[str, Any]:
        """``/readyz``: whether the gateway reaches its store and bus (``GatewayUnavailable``
        when it does not)."""
        reply = await self._request("GET", "/readyz")
        if not isinstance(reply, dict) or "status" not in reply:
            raise self.not_a_gateway("GET", "/readyz", "a readiness object with a status")
        return reply

    # -- HTTP --------------------------------------------------------------------------------
    def _nonce_header(self) -> dict[str, str]:
        return {NONCE_HEADER: self.nonce} if self.nonce else {}

    @staticmethod
    def _execution_path(actor: str, execution_id: str) -> str:
        return f"/actors/v2/{quote(actor, safe='')}/executions/{quote(execution_id, safe='')}"

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        try:
            response = await self._http.request(
                method, path, json=json, params=params, headers=headers
            )
        except httpx.TransportError as exc:
            raise GatewayUnreachable(
                f"no answer from the gateway at {self.base_url} ({type(exc).__name__}: "
                f"{exc or 'no detail'}); is it running (`pipelinejobs up`) and is the URL right?"
            ) from None
        if not response.is_success:
            raise _refusal(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("content-type", "no content type")
            raise self.not_a_gateway(
                method, path, f"a JSON document (got HTTP {response.status_code}, {kind})"
            ) from None

    def _field(self, reply: Any, method: str, path: str, *keys: str) -> Any:
        """``reply[keys[0]][keys[1]]...``; ``NotAGateway`` naming the missing field."""
        value = reply
        for depth, key in enumerate(keys):
            if not isinstance(value, dict) or key not in value:
                wanted = ".".join(keys[: depth + 1])
                raise self.not_a_gateway(method, path, f"a JSON object with {wanted}")
            value = value[key]
        return value

    def not_a_gateway(self, method: str, path: str, expected: str) -> NotAGateway:
        """The error for an answer of the wrong shape: it names the URL and what was expected."""
        return NotAGateway(
            f"{method} {self.base_url}{path} did not answer as a pipelinejobs gateway: "
            f"expected {expected}; is {self.base_url} the gateway's URL (`pipelinejobs up` "
            "prints it)?"
        )


def checked_base_url(base_url: str) -> str:
    """``base_url`` without its trailing slash, once it is an http(s) URL with a host."""
    try:
        parts = urlsplit(base_url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a malformed port or IPv6 address
        valid = False
    if not valid:
        raise InvalidInput(
            f"gateway URL {base_url!r} is not accepted: give an http(s) URL with a host, "
            "e.g. http://127.0.0.1:8000"
        )
    return base_url.rstrip("/")


def _refusal(response: httpx.Response) -> RequestRefused | GatewayUnavailable:
    """The error for a non-2xx answer, with the problem document's detail when there is one."""
    problem: dict[str, Any] = {}
    try:
        decoded = response.json()
    except ValueError:
        decoded = None
    if isinstance(decoded, dict):
        problem = decoded
    detail = str(problem.get("detail") or response.reason_phrase or "no detail")
    if response.status_code >= 500:
        return GatewayUnavailable(response.status_code, detail, problem)
    return RequestRefused(response.status_code, detail, problem)
