"""A batch's deferred writes on a real (in-memory) SQLite store: a failed commit poisons the
unit, so no earlier decision of the batch can be acked as applied."""

from __future__ import annotations

import pytest
from pipelinejobs.application.ledger import history_event
from pipelinejobs.errors import VersionConflict
from pipelinejobs.store.deferred import DeferredWrites, UnitFailed
from pipelinejobs.store.port import StoredDocument
from pipelinejobs.store.sqlite import MEMORY, SQLiteStore

pytestmark = pytest.mark.asyncio

JOB = "1070000000000000000000000000000000000000"


async def created(store: SQLiteStore) -> StoredDocument:
    document, _ = await store.create_document(
        "jobs",
        {"uuid": JOB, "state": "RUNNING", "history": [history_event("create", {}, domain="x")]},
        message_id="m-create",
    )
    return document


async def append(
    target: DeferredWrites | SQLiteStore, document: StoredDocument, message_id: str
) -> StoredDocument:
    result = await target.append_event(
        "jobs",
        JOB,
        expected_version=document.version,
        event=history_event("update", {}, domain="x"),
        changes={"last_event": "update"},
        message_id=message_id,
    )
    return result.document


async def test_after_a_failed_commit_every_later_commit_fails_and_nothing_is_written() -> None:
    store = SQLiteStore(MEMORY)
    await store.start()
    try:
        job = await created(store)
        unit = DeferredWrites(store)
        held = await append(unit, job, "m-1")  # the batch's first message decides
        await append(store, job, "m-foreign")  # another process wins the race meanwhile
        with pytest.raises(VersionConflict):
            await unit.read_events("jobs", JOB)  # any other operation commits what is held
        with pytest.raises(UnitFailed, match="VersionConflict"):
            await unit.commit()  # the batch's final commit: m-1 must not be acked
        assert held.version == 2
        stored = await store.get_document("jobs", JOB, message_ids=["m-1", "m-foreign"])
        assert stored is not None
        assert stored.message_ids == frozenset({"m-foreign"})
    finally:
        await store.close()
