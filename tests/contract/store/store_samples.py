"""Small builders of the documents the store contract tests write."""

from __future__ import annotations

import uuid
from typing import Any

from pipelinejobs.store.port import JSON


def new_id(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4()}"


def event(name: str, **data: Any) -> JSON:
    return {"uuid": new_id("event-"), "name": name, "date": "2024-05-01T00:00:00Z", "data": data}


def job(
    *,
    state: str = "CREATED",
    pipeline_uuid: str = "pipeline-1",
    updated: str = "2024-05-01T00:00:00Z",
    **fields: Any,
) -> JSON:
    """A job body at creation: its uuid, fields and the ``create`` event."""
    return {
        "uuid": new_id("job-"),
        "state": state,
        "pipeline_uuid": pipeline_uuid,
        "updated": updated,
        "data": {"inputs": {"file1": "agave://data/x.txt"}, "_links": {}},
        "history": [event("create", appId="app-0.1")],
        **fields,
    }


def nonce(
    *,
    actor: str = "actor-manager",
    level: int = 2,
    max_uses: int = -1,
    expires_at: str | None = None,
    create_time: str = "2024-05-01T00:00:00Z",
) -> JSON:
    return {
        "id": new_id("SD2E_"),
        "actor": actor,
        "level": level,
        "max_uses": max_uses,
        "remaining_uses": max_uses,
        "current_uses": 0,
        "expires_at": expires_at,
        "owner": "tacobot",
        "description": "callbacks",
        "create_time": create_time,
        "last_use_time": None,
    }
