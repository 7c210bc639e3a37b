"""The SQLite schema: JSON bodies as TEXT, with the columns the queries filter and sort on.

Query columns are generated from the body (``GENERATED ALWAYS AS (json_extract(...))``), so they
can never disagree with the document they index. Link tables hold the list-valued relations that
queries search (a file's jobs, a catalog record's parents).
"""

from __future__ import annotations

from pipelinejobs.store._documents import DOCUMENT_KINDS

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
