"""A data directory written by release 9a9f763 (histories embedded in the documents) is
upgraded in place when the store starts: every event, document, consumed id and record kept."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from pipelinejobs.store.port import AppendOutcome
from pipelinejobs.store.sqlite import SQLiteStore

FIXTURE = Path(__file__).parents[1] / "fixtures" / "datadir_9a9f763" / "pipelinejobs.sqlite3"
PIPELINE = "106a1b2c3d4e5f60718293a4b5c6d7e8f"
JOB = "1071a2b3c4d5e6f708192a3b4c5d6e7f8"
SHORT_JOB = "1072a2b3c4d5e6f708192a3b4c5d6e7f8"


async def test_a_9a9f763_data_directory_is_upgraded_at_start(tmp_path: Path) -> None:
    path = tmp_path / "pipelinejobs.sqlite3"
    shutil.copy(FIXTURE, path)
    store = SQLiteStore(path)
    await store.start()
    try:
        job = await store.get_document("jobs", JOB, message_ids=[f"m-{JOB}-finish", "m-new"])
        assert job is not None
        assert job.version == 4
        assert "history" not in job.body
        assert (job.body["state"], job.body["last_event"]) == ("FINISHED", "finish")
        assert job.message_ids == {f"m-{JOB}-finish"}
        events = await store.read_events("jobs", JOB)
        assert [(r.version, r.event["name"]) for r in events] == [
            (1, "create"),
            (2, "run"),
            (3, "update"),
            (4, "finish"),
        ]
        assert events[1].event["data"] == {"note": "step 1"}
        assert events[-1].state == "FINISHED"
        assert {r.pipeline_uuid for r in events} == {PIPELINE}
        pipeline = await store.get_document("pipelines", PIPELINE)
        assert pipeline is not None
        assert pipeline.body["name"] == "Tacobot"
        assert [r.event["name"] for r in await store.read_events("pipelines", PIPELINE)] == [
            "create"
        ]
        feed = await store.read_feed(limit=100)
        assert len(feed) == 1 + 4 + 3
        assert [r.event["date"] for r in feed] == sorted(r.event["date"] for r in feed)
        redelivered = await store.append_event(
            "jobs",
            SHORT_JOB,
            expected_version=1,
            event={"uuid": "e", "name": "run", "date": "d", "data": {}},
            changes={"state": "RUNNING"},
            message_id=f"m-{SHORT_JOB}-run",
        )
        assert redelivered.outcome is AppendOutcome.ALREADY_APPLIED
        assert redelivered.document.version == 3
        appended = await store.append_event(
            "jobs",
            SHORT_JOB,
            expected_version=3,
            event={"uuid": "e", "name": "finish", "date": "d", "data": {}},
            changes={"state": "FINISHED"},
            message_id="m-new",
        )
        assert appended.outcome is AppendOutcome.APPLIED
        assert [f["name"] for f in await store.find_files(generated_by=JOB)] == [
            "/products/v2/out.txt"
        ]
        execution = await store.get_execution("exec-1")
        assert execution is not None
        assert execution["logs"] == ["done"]
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    again = SQLiteStore(path)  # a second start finds it upgraded and changes nothing
    await again.start()
    try:
        assert len(await again.read_events("jobs", JOB)) == 4
    finally:
        await again.close()
