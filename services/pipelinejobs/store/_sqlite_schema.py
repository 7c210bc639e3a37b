"""The SQLite schema: JSON bodies as TEXT, with the columns the queries filter and sort on.

Query columns are generated from the body (``GENERATED ALWAYS AS (json_extract(...))``), so they
can never disagree with the document they index. Link tables hold the list-valued relations that
queries search (a file's jobs, a catalog record's parents).

The schema version is SQLite's ``user_version``. Version 0 with a ``jobs`` table is the layout of
release 9a9f763 and before (the history embedded in each document, no event table);
:func:`upgrade` turns it into version 2 in one transaction at start: each embedded history
becomes event records (versions 1..n, positions in date order), the documents become
projections. Their consumed message ids are kept as they were (the ``consumed`` table).
"""

from __future__ import annotations

import json
import sqlite3

from pipelinejobs.store._documents import DOCUMENT_KINDS

SCHEMA_VERSION = 2

DOCUMENT_COLUMNS = ("updated", "state", "pipeline_uuid")
"""Body fields of pipelines and jobs that have their own indexed column."""


def _document_table(kind: str) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {kind} (
    uuid TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    updated GENERATED ALWAYS AS (json_extract(body, '$.updated')) VIRTUAL,
    state GENERATED ALWAYS AS (json_extract(body, '$.state')) VIRTUAL,
    pipeline_uuid GENERATED ALWAYS AS (json_extract(body, '$.pipeline_uuid')) VIRTUAL
);
CREATE INDEX IF NOT EXISTS {kind}_by_updated ON {kind} (updated DESC, uuid);
CREATE INDEX IF NOT EXISTS {kind}_by_state ON {kind} (state, updated DESC, uuid);
CREATE INDEX IF NOT EXISTS {kind}_by_pipeline ON {kind} (pipeline_uuid, updated DESC, uuid);
"""


SCHEMA = (
    "\n".join(_document_table(kind) for kind in DOCUMENT_KINDS)
    + """
CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    stream TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    message_id TEXT,
    sender TEXT,
    state TEXT,
    pipeline_uuid TEXT,
    UNIQUE (stream, version)
);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_message ON events (stream, message_id)
    WHERE message_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_by_name ON events (name, position);
CREATE INDEX IF NOT EXISTS events_by_state ON events (state, position);
CREATE INDEX IF NOT EXISTS events_by_pipeline ON events (pipeline_uuid, position);

CREATE TABLE IF NOT EXISTS consumed (
    kind TEXT NOT NULL,
    uuid TEXT NOT NULL,
    message_id TEXT NOT NULL,
    PRIMARY KEY (kind, uuid, message_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS files (
    uuid TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    name GENERATED ALWAYS AS (json_extract(body, '$.name')) VIRTUAL
);
CREATE INDEX IF NOT EXISTS files_by_name ON files (name, uuid);
CREATE TABLE IF NOT EXISTS file_generated_by (
    job_uuid TEXT NOT NULL,
    file_uuid TEXT NOT NULL,
    PRIMARY KEY (job_uuid, file_uuid)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS catalog (
    uuid TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    text_id GENERATED ALWAYS AS (json_extract(body, '$.id')) VIRTUAL,
    type GENERATED ALWAYS AS (json_extract(body, '$.type')) VIRTUAL
);
CREATE UNIQUE INDEX IF NOT EXISTS catalog_by_text_id ON catalog (text_id);
CREATE TABLE IF NOT EXISTS catalog_child_of (
    parent_uuid TEXT NOT NULL,
    child_uuid TEXT NOT NULL,
    PRIMARY KEY (parent_uuid, child_uuid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS catalog_child_of_by_child ON catalog_child_of (child_uuid);

CREATE TABLE IF NOT EXISTS executions (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_by_actor ON executions (
    json_extract(body, '$.actor'), json_extract(body, '$.submitted') DESC, id
);
CREATE TABLE IF NOT EXISTS execution_logs (
    line_no INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id TEXT NOT NULL,
    line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS execution_logs_by_execution ON execution_logs (execution_id, line_no);

CREATE TABLE IF NOT EXISTS nonces (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    actor GENERATED ALWAYS AS (json_extract(body, '$.actor')) VIRTUAL,
    create_time GENERATED ALWAYS AS (json_extract(body, '$.create_time')) VIRTUAL
);
CREATE INDEX IF NOT EXISTS nonces_by_actor ON nonces (actor, create_time, id);
"""
)


def upgrade(db: sqlite3.Connection) -> None:
    """Bring the open database to :data:`SCHEMA_VERSION`, in one transaction (call outside one).

    The schema's ``IF NOT EXISTS`` statements run at every start, so an index added by a later
    change reaches databases already at this version."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"the database has schema version {version}, newer than this release's "
            f"{SCHEMA_VERSION}: upgrade pipelinejobs"
        )
    db.execute("BEGIN IMMEDIATE")
    try:
        legacy = (
            version == 0
            and db.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'jobs'"
            ).fetchone()[0]
        )
        for statement in SCHEMA.split(";"):  # executescript would commit the transaction
            if statement.strip():
                db.execute(statement)
        if legacy:
            _explode_histories(db)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _explode_histories(db: sqlite3.Connection) -> None:
    """Release 9a9f763 kept each history inside its document: move it to the event table."""
    rows: list[tuple[str, str, int, str, str, str | None, str | None]] = []
    for kind in DOCUMENT_KINDS:
        for uuid, body_text in db.execute(f"SELECT uuid, body FROM {kind}").fetchall():  # noqa: S608
            body = json.loads(body_text)
            history = body.pop("history", None) or []
            pipeline = uuid if kind == "pipelines" else body.get("pipeline_uuid")
            for version, event in enumerate(history, start=1):
                state = body.get("state") if version == len(history) else None
                rows.append(
                    (
                        str(event.get("date") or ""),
                        uuid,
                        version,
                        kind,
                        json.dumps(event),
                        state,
                        pipeline,
                    )
                )
            db.execute(
                f"UPDATE {kind} SET body = ?, version = ? WHERE uuid = ?",  # noqa: S608
                (json.dumps(body, separators=(",", ":")), max(len(history), 1), uuid),
            )
    rows.sort()
    db.executemany(
        "INSERT INTO events (kind, stream, version, name, body, state, pipeline_uuid) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (kind, uuid, version, str(json.loads(text).get("name")), text, state, pipeline)
            for _, uuid, version, kind, text, state, pipeline in rows
        ],
    )
