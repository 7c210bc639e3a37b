"""Pipelines and jobs: the read API, plus the pipelines-manager's messages.

Reading needs a Bearer token (nonces open actor routes only). Pipeline changes are messages to
the pipelines-manager, sent and waited for, so a refusal arrives as ``ExecutionFailed`` with the
actor's reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from pipelinejobs.client.errors import RequestRefused
from pipelinejobs.client.gateway import DEFAULT_WAIT, AsyncGateway
from pipelinejobs.domain.actors import PIPELINES_MANAGER
from pipelinejobs.domain.states import allowed_events, parse_state, transition
from pipelinejobs.errors import InvalidInput

Documents = list[dict[str, Any]]
"""Pipelines, jobs or files as the read API returns them."""
Names = list[str]

DEFAULT_PAGE = 50
EVENT_PAGE = 1000


async def _page(gateway: AsyncGateway, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """One page of the read API, checked to be one (a wrong URL must not end in a KeyError)."""
    page = await gateway.get(path, params)
    if not isinstance(page, dict) or not isinstance(page.get("items"), list):
        raise gateway.not_a_gateway("GET", path, "a page object with a list of items")
    return page


async def _events(gateway: AsyncGateway, path: str) -> Documents:
    """Every event of a stream, oldest first, read a page at a time from ``path``
    (``/jobs/{uuid}/events``): the documented ``{uuid, name, date, data}`` of each."""
    events: Documents = []
    after: int | None = 0
    while after is not None:
        page = await gateway.get(path, {"after": after, "limit": EVENT_PAGE})
        if not isinstance(page, dict) or not isinstance(page.get("items"), list):
            raise gateway.not_a_gateway("GET", path, "a page of events")
        events.extend(
            {key: value for key, value in item.items() if key != "version"}
            for item in page["items"]
        )
        following = page.get("next")
        after = following if isinstance(following, int) and following > after else None
    return events


async def _document(gateway: AsyncGateway, path: str) -> dict[str, Any]:
    document = await gateway.get(path)
    if not isinstance(document, dict) or "uuid" not in document:
        raise gateway.not_a_gateway("GET", path, "a document with a uuid")
    return document


class PipelinesClient:
    """Pipelines: list and read them; register, update and retire them."""

    def __init__(self, gateway: AsyncGateway, *, timeout: float = DEFAULT_WAIT) -> None:
        self.gateway = gateway
        self.timeout = timeout

    async def page(
        self, *, state: str | None = None, limit: int = DEFAULT_PAGE, offset: int = 0
    ) -> dict[str, Any]:
        """One page: ``items``, ``total``, ``limit``, ``offset``. ``state``: ACTIVE or RETIRED."""
        return await _page(
            self.gateway, "/pipelines", {"state": state, "limit": limit, "offset": offset}
        )

    async def list(
        self, *, state: str | None = None, limit: int = DEFAULT_PAGE, offset: int = 0
    ) -> Documents:
        """The pipelines of one page."""
        return list((await self.page(state=state, limit=limit, offset=offset))["items"])

    async def get(self, uuid: str) -> dict[str, Any]:
        """One pipeline (``RequestRefused`` with status 404 when there is none)."""
        return await _document(self.gateway, f"/pipelines/{quote(uuid, safe='')}")

    async def history(self, uuid: str) -> Documents:
        """The pipeline's events: create, update..., retire (all of them, paged)."""
        return await _events(self.gateway, f"/pipelines/{quote(uuid, safe='')}/events")

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
        return await _page(
            self.gateway,
            "/jobs",
            {
                "state": state.upper() if state else None,
                "pipeline_uuid": pipeline_uuid,
                "limit": limit,
                "offset": offset,
            },
        )

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
        return await _document(self.gateway, f"/jobs/{quote(uuid, safe='')}")

    async def history(self, uuid: str) -> Documents:
        """The job's events, oldest first: ``{uuid, name, date, data}`` (all of them, paged)."""
        return await _events(self.gateway, f"/jobs/{quote(uuid, safe='')}/events")

    async def history_page(
        self, uuid: str, *, after: int = 0, limit: int = EVENT_PAGE
    ) -> dict[str, Any]:
        """One page of the job's events after version ``after``: ``items`` (each with its
        ``version``), ``next`` (the ``after`` of the next page, None at the end)."""
        path = f"/jobs/{quote(uuid, safe='')}/events"
        page = await self.gateway.get(path, {"after": after, "limit": limit})
        if not isinstance(page, dict) or not isinstance(page.get("items"), list):
            raise self.gateway.not_a_gateway("GET", path, "a page of events")
        return page

    async def events(self, uuid: str) -> Names:
        """The events the job accepts next, from its state and the state machine."""
        return [row["event"] for row in (await self.next_events(uuid))["events"]]

    async def next_events(self, uuid: str) -> dict[str, Any]:
        """What the job accepts next, explained: ``{uuid, state, state_description, events}``
        with one ``{event, leads_to, description}`` per event, from the state machine."""
        state = parse_state(str((await self.get(uuid))["state"]))
        return {
            "uuid": uuid,
            "state": state.value,
            "state_description": state.description,
            "events": [
                {
                    "event": event.value,
                    "leads_to": transition(state, event).value,
                    "description": event.description,
                }
                for event in allowed_events(state)
            ],
        }

    async def files(self, uuid: str, *, limit: int = DEFAULT_PAGE, offset: int = 0) -> Documents:
        """The files indexed as generated by the job, with their processing ``level``."""
        page = await _page(
            self.gateway, "/files", {"generated_by": uuid, "limit": limit, "offset": offset}
        )
        return list(page["items"])


CATALOG_SECTIONS = {
    "experiment_design": "experiment_designs",
    "experiment": "experiments",
    "sample": "samples",
    "measurement": "measurements",
}
"""Each catalog level (a record's ``type``) and its routes' section."""
CATALOG_CHILDREN = {
    "experiment_design": "experiment",
    "experiment": "sample",
    "sample": "measurement",
}


class CatalogClient:
    """The metadata catalog: experiment designs, experiments, samples, measurements.

    Records carry their typed ``uuid`` (what a job's ``derived_from`` holds), text ``id``,
    ``type`` and ``child_of`` (their parents' uuids).
    """

    def __init__(self, gateway: AsyncGateway) -> None:
        self.gateway = gateway

    async def page(
        self, record_type: str = "experiment", *, limit: int = DEFAULT_PAGE, offset: int = 0
    ) -> dict[str, Any]:
        """One page of the records of one level, by text id."""
        section = _section(record_type)
        return await _page(self.gateway, f"/catalog/{section}", {"limit": limit, "offset": offset})

    async def get(self, record_id: str) -> dict[str, Any]:
        """The record named by a text id or typed UUID, of any level."""
        return await _document(self.gateway, f"/catalog/records/{quote(record_id, safe='')}")

    async def children(self, record: Mapping[str, Any]) -> Documents:
        """The records just below ``record`` (none below a measurement)."""
        record_type = str(record.get("type"))
        if record_type not in CATALOG_CHILDREN:
            return []
        path = f"/catalog/{_section(record_type)}/{quote(str(record['uuid']), safe='')}/"
        path += CATALOG_SECTIONS[CATALOG_CHILDREN[record_type]]
        return list((await _page(self.gateway, path, {}))["items"])

    async def tree(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """``record`` with its descendants nested under ``children``."""
        children = [await self.tree(child) for child in await self.children(record)]
        return {**record, "children": children}

    async def ancestors(self, record: Mapping[str, Any]) -> Documents:
        """The records above ``record``, top first, following each one's first parent."""
        lineage: Documents = []
        current: Mapping[str, Any] = record
        while current.get("child_of") and len(lineage) < len(CATALOG_SECTIONS):
            current = await self.get(str(current["child_of"][0]))
            lineage.insert(0, current)
        return lineage


def _section(record_type: str) -> str:
    section = CATALOG_SECTIONS.get(record_type)
    if section is None:
        accepted = ", ".join(CATALOG_SECTIONS)
        raise InvalidInput(f"catalog record type {record_type!r} is unknown; accepted: {accepted}")
    return section


class FilesClient:
    """Indexed files: each with its name (path on the archive system), processing ``level``
    and ``generated_by`` (the jobs that made it)."""

    def __init__(self, gateway: AsyncGateway) -> None:
        self.gateway = gateway

    async def page(
        self,
        *,
        name: str | None = None,
        generated_by: str | None = None,
        limit: int = DEFAULT_PAGE,
        offset: int = 0,
    ) -> dict[str, Any]:
        """One page of files by name, optionally one file ``name`` or one job's files."""
        params = {"name": name, "generated_by": generated_by, "limit": limit, "offset": offset}
        return await _page(self.gateway, "/files", params)

    async def get(self, file: str) -> dict[str, Any]:
        """The file named by its typed UUID or its name, an absolute path (``RequestRefused``
        404 when there is none)."""
        if not file.startswith("/"):
            return await _document(self.gateway, f"/files/{quote(file, safe='')}")
        found = (await self.page(name=file, limit=1))["items"]
        if not found:
            raise RequestRefused(404, f"no file named {file!r}", {"status": 404})
        return dict(found[0])
