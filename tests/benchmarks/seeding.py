"""Jobs and histories for the benchmarks, written through the Store port.

A benchmark measures one thing; the jobs it needs (running, with a pipeline uuid, an archive
path) are put in place directly through the store, not through the actors being measured.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from pipelinejobs.application.ledger import history_event
from pipelinejobs.domain.identifiers import UUIDType, typed_uuid
from pipelinejobs.store.port import Store

DOMAIN = "sd2e.org"
PIPELINE = typed_uuid("benchmark pipeline", UUIDType.PIPELINE)


def job_uuids(count: int, label: str) -> list[str]:
    """``count`` distinct typed job uuids, the same for the same ``label``."""
    return [typed_uuid(f"{label} job {n}", UUIDType.PIPELINEJOB) for n in range(count)]


async def seed_running_jobs(store: Store, uuids: Iterable[str]) -> None:
    """Each job created and run (state RUNNING, two events), ready to take ``update`` events."""
    for uuid in uuids:
        events = [history_event(name, {}, domain=DOMAIN) for name in ("create", "run")]
        body = {
            "uuid": uuid,
            "pipeline_uuid": PIPELINE,
            "archive_path": f"/products/v2/{uuid}",
            "archive_system": "data-sd2e-community",
            "archive_patterns": [],
            "data": {},
            "history": events,
            "state": "RUNNING",
            "last_event": "run",
            "updated": events[-1]["date"],
        }
        await store.create_document("jobs", body, message_id=f"create-{uuid}")


SEEDED_EVENTS = 2
"""Events a job seeded by :func:`seed_running_jobs` starts with (create, run)."""


async def grow_history(store: Store, uuid: str, *, have: int, until: int, budget: float) -> int:
    """Append ``update`` events to a job that holds ``have`` events until it holds ``until``,
    or until ``budget`` seconds have passed; the number of events it holds then."""
    current = await store.get_document("jobs", uuid)
    assert current is not None, f"job {uuid} was not seeded"
    version, size = current.version, have
    deadline = time.monotonic() + budget
    while size < until and time.monotonic() < deadline:
        result = await store.append_event(
            "jobs",
            uuid,
            expected_version=version,
            event=history_event("update", {"n": size}, domain=DOMAIN),
            changes={"last_event": "update"},
            message_id=f"seed-{uuid}-{size}",
        )
        version = result.document.version
        size += 1
    return size
