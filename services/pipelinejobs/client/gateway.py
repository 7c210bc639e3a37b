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
from urllib.parse import quote

import httpx

from pipelinejobs.client.errors import (
    ExecutionFailed,
    ExecutionTimedOut,
    GatewayUnavailable,
    GatewayUnreachable,
    RequestRefused,
)

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

    ``transport`` replaces the network (tests pass ``httpx.ASGITransport(app)``).
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
        self.base_url = base_url.rstrip("/")
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
        reply = await self._request(
            "POST",
            f"/actors/v2/{quote(actor, safe='')}/messages",
            json=dict(document) if document is not None else None,
            params=dict(params or {}),
            headers=headers,
        )
        return str(reply["result"]["executionId"])

    async def execution(self, actor: str, execution_id: str) -> dict[str, Any]:
        """The execution: ``status`` (SUBMITTED, RUNNING, COMPLETE, ERROR), ``result``,
        ``error`` and timestamps."""
        reply = await self._request(
            "GET", self._execution_path(actor, execution_id), headers=self._nonce_header()
        )
        result: dict[str, Any] = reply["result"]
        return result

    async def logs(self, actor: str, execution_id: str) -> str:
        """The execution's log lines, joined by newlines."""
        reply = await self._request(
            "GET", self._execution_path(actor, execution_id) + "/logs", headers=self._nonce_header()
        )
        return str(reply["result"]["logs"])

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
        reply = await self._request(
            "POST", f"/actors/v2/{quote(actor, safe='')}/nonces", json=request
        )
        result: dict[str, Any] = reply["result"]
        return result

    async def list_nonces(self, actor: str) -> list[dict[str, Any]]:
        """Your nonces for ``actor`` (every user's, for an admin)."""
        reply = await self._request("GET", f"/actors/v2/{quote(actor, safe='')}/nonces")
        return [dict(nonce) for nonce in reply["result"]]

    async def delete_nonce(self, actor: str, nonce_id: str) -> None:
        """Delete a nonce: it authorizes nothing from then on."""
        await self._request(
            "DELETE", f"/actors/v2/{quote(actor, safe='')}/nonces/{quote(nonce_id, safe='')}"
        )

    # -- read API and health -----------------------------------------------------------------
    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a read-API path (``/jobs/<uuid>``, ``/pipelines``, ``/files``...)."""
        query = {key: value for key, value in (params or {}).items() if value is not None}
        return await self._request("GET", path, params=query)

    async def ready(self) -> dict[str, Any]:
        """``/readyz``: whether the gateway reaches its store and bus (``GatewayUnavailable``
        when it does not)."""
        reply: dict[str, Any] = await self._request("GET", "/readyz")
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
        if response.is_success:
            return response.json() if response.content else None
        raise _refusal(response)


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
