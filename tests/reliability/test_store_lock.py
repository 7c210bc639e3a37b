"""A store locked by another process: the gateway answers 503 with Retry-After at once, writes
nothing, and takes the same callbacks once the lock is gone, applying each once.

The lock is real: a second sqlite3 connection to the system's database file holding
``BEGIN EXCLUSIVE``, as a backup tool or a second writer would. Before the fix, requests waited
for the busy timeout one after the other (11 s for a 10 s lock) and then went through.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pipelinejobs.store.factory import SQLITE_FILE
from pipelinejobs_up import UpProcess, start_up
from reliability_kit import Callbacks, histories, record, seed_running_jobs, wait_applied

LOCK_HELD = 12.0
"""Seconds the other process holds the database; far longer than the 2 s default limit."""
JOBS = 8


@pytest.fixture
def up(tmp_path: Path) -> Iterator[UpProcess]:
    process = start_up(tmp_path / "data")
    try:
        yield process
    finally:
        assert process.stop() == 0, process.logs()


def executions(database: Path) -> int:
    with sqlite3.connect(database, timeout=30) as db:
        return int(db.execute("SELECT COUNT(*) FROM executions").fetchone()[0])


async def test_a_locked_store_answers_503_at_once_and_nothing_is_half_written(
    up: UpProcess,
) -> None:
    database = up.data_dir / SQLITE_FILE
    tokens = await seed_running_jobs(up.data_dir, "store-lock", JOBS)
    uuids = list(tokens)
    callbacks = Callbacks(lambda: up.url, up.token, tokens, per_job=1)
    before = executions(database)

    holder = sqlite3.connect(database, timeout=30, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    locked_at = time.monotonic()
    try:
        async with httpx.AsyncClient(base_url=up.url, timeout=LOCK_HELD * 2) as client:
            answers = await asyncio.gather(
                *(
                    client.post(
                        f"/actors/v2/jobs-manager/messages?uuid={uuid}&token={token}"
                        "&status=HEARTBEAT",
                        json=record(uuid, 0),
                        headers={"Authorization": f"Bearer {up.token}"},
                    )
                    for uuid, token in tokens.items()
                )
            )
        answered_within = time.monotonic() - locked_at
    finally:
        # Held for LOCK_HELD seconds whatever the answers: a request still waiting would
        # otherwise go through when the lock goes.
        await asyncio.sleep(max(0.0, LOCK_HELD - (time.monotonic() - locked_at)))
        holder.execute("ROLLBACK")
        holder.close()

    assert [answer.status_code for answer in answers] == [503] * JOBS, [a.text for a in answers]
    assert answered_within < LOCK_HELD  # every answer came while the lock was still held
    for answer in answers:
        assert answer.headers["Retry-After"].isdigit()
        assert answer.json()["type"].endswith("/store-unavailable"), answer.text
        assert "locked" in answer.json()["detail"], answer.text
    assert executions(database) == before  # nothing recorded, nothing queued

    # The same callbacks, sent again once the lock is gone (as Agave retries): applied once each.
    tally = await callbacks.run()
    async with httpx.AsyncClient(
        base_url=up.url, headers={"Authorization": f"Bearer {up.token}"}, timeout=30
    ) as client:
        found = await wait_applied(client, uuids, per_job=1)
        await asyncio.sleep(1.0)  # anything doubled would show by now
        assert await histories(client, uuids) == found
    assert tally.accepted == JOBS
