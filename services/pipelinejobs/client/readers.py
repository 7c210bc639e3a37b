"""Pipelines and jobs: the read API, plus the pipelines-manager's messages.

Reading needs a Bearer token (nonces open actor routes only). Pipeline changes are messages to
the pipelines-manager, sent and waited for, so a refusal arrives as ``ExecutionFailed`` with the
actor's reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from pipelinejobs.client.gateway import DEFAULT_WAIT, AsyncGateway
from pipelinejobs.domain.states import allowed_events

Documents = list[dict[str, Any]]
"""Pipelines, jobs or files as the read API returns them."""
Names = list[str]

PIPELINES_MANAGER = "pipelines-manager"
DEFAULT_PAGE = 50


class PipelinesClient:
    """Pipelines: list and read them; register, update and retire them."""

    def __init__(self, gateway: AsyncGateway, *, timeout: float = DEFAULT_WAIT) -> None:
        self.gateway = gateway
        self.timeout = timeout

    async def page(
        self, *, state: str | None = None, limit: int = DEFAULT_PAGE, offset: int = 0
    ) -> dict[str, Any]:
        """One page: ``items``, ``total``, ``limit``, ``offset``. ``state``: ACTIVE or RETIRED."""
        page: dict[str, Any] = await self.gateway.get(
            "/pipelines", {"state": state, "limit": limit, "offset": offset}
        )
        return page

    async def list(
        self, *, state: str | None = None, limit: int = DEFAULT_PAGE, offset: int = 0
    ) -> Documents:
        """The pipelines of one page."""
        return list((await self.page(state=state, limit=limit, offset=offset))["items"])

    async def get(self, uuid: str) -> dict[str, Any]:
        """One pipeline (``RequestRefused`` with status 404 when there is none)."""
        pipeline: dict[str, Any] = await self.gateway.get(f"/pipelines/{quote(uuid, safe='')}")
        return pipeline

    async def history(self, uuid: str) -> Documents:
        """The pipeline's events: create, update..., retire."""
        return list((await self.get(uuid)).get("history") or [])

    async def create(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """Register a pipeline document; the reply has its ``uuid`` and update ``token``."""
        return await self.gateway.call(PIPELINES_MANAGER, document, timeout=self.timeout)

    async def update(self, uuid: str, changes: Mapping[str, Any], token: str) -> dict[str, Any]:
        """Change a pipeline's fields (not its components) with its update token."""
        message = {"action": "update", "uuid": uuid, "body": dict(changes), "token": token}
        return await self.gateway.call(PIPELINES_MANAGER, message, timeout=self.timeout)

    async def retire(self, uuid: str, token: str) -> dict[str, Any]:
        """Take a pipeline out of service: it stays readable and accepts no new jobs."""
        message = {"action": "retire", "uuid": uuid, "token": token}
        return await self.gateway.call(PIPELINES_MANAGER, message, timeout=self.timeout)


class JobsClient:
    """Jobs: list and read them, their history, their files and the events they accept."""

    def __init__(self, gateway: AsyncGateway) -> None:
        self.gateway = gateway

    async def page(
        self,
        *,
        state: str | None = None,
        pipeline_uuid: str | None = None,
        limit: int = DEFAULT_PAGE,
        offset: int = 0,
    ) -> dict[str, Any]:
        """One page: ``items``, ``total``, ``limit``, ``offset``."""
        page: dict[str, Any] = await self.gateway.get(
            "/jobs",
            {
                "state": state.upper() if state else None,
                "pipeline_uuid": pipeline_uuid,
                "limit": limit,
                "offset": offset,
            },
        )
        return page

    async def list(
        self,
        *,
        state: str | None = None,
        pipeline_uuid: str | None = None,
        limit: int = DEFAULT_PAGE,
        offset: int = 0,
    ) -> Documents:
        """The jobs of one page, optionally of one state and one pipeline."""
        page = await self.page(state=state, pipeline_uuid=pipeline_uuid, limit=limit, offset=offset)
        return list(page["items"])

    async def get(self, uuid: str) -> dict[str, Any]:
        """One job with its history (``RequestRefused`` with status 404 when there is none)."""
        job: dict[str, Any] = await self.gateway.get(f"/jobs/{quote(uuid, safe='')}")
        return job

    async def history(self, uuid: str) -> Documents:
        """The job's events, oldest first: ``{uuid, name, date, data}``."""
        return list((await self.get(uuid)).get("history") or [])

    async def events(self, uuid: str) -> Names:
        """The events the job accepts next, from its state and the state machine."""
        return [event.value for event in allowed_events(str((await self.get(uuid))["state"]))]

    async def files(self, uuid: str, *, limit: int = DEFAULT_PAGE, offset: int = 0) -> Documents:
        """The files indexed as generated by the job, with their processing ``level``."""
        page = await self.gateway.get(
            "/files", {"generated_by": uuid, "limit": limit, "offset": offset}
        )
        return list(page["items"])
