"""A pipeline stored directly, for actor tests whose subject is a job rather than the
pipelines-manager (which has tests of its own for creating one through a message)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipelinejobs.application.ledger import history_event, record_pipeline_event
from pipelinejobs.domain.identifiers import pipeline_uuid
from pipelinejobs.host.bootstrap import System

DOMAIN = "sd2e.org"


async def add_pipeline(
    system: System,
    components: Sequence[Mapping[str, Any]],
    *,
    name: str = "TACObot",
    owner: str = "user:local",
    retired: bool = False,
    **fields: Any,
) -> str:
    """Store an ACTIVE (or RETIRED) pipeline of ``components``; its uuid."""
    uuid = pipeline_uuid(list(components), domain=DOMAIN)
    created = history_event("create", {}, domain=DOMAIN)
    body = {
        "uuid": uuid,
        "name": name,
        **fields,
        "components": list(components),
        "state": "ACTIVE",
        "history": [created],
        "last_event": "create",
        "created": created["date"],
        "updated": created["date"],
        "owner": owner,
    }
    document, _ = await system.store.create_document("pipelines", body, message_id=f"c-{uuid}")
    if retired:
        await record_pipeline_event(
            system.store,
            document,
            "retire",
            {},
            {"state": "RETIRED"},
            message_id=f"r-{uuid}",
            domain=DOMAIN,
        )
    return uuid
