"""The durable write the baselines make for one ``update`` event, as we would write it by hand.

One SQLite transaction per event, WAL journal with ``synchronous=FULL`` (as our store): skip a
message already consumed, read the job's version, insert the event (unique on job and version,
and on message id), bump the job's version only if it is still the one read, commit. That is
the conditional, exactly-once write our jobs-manager makes, without anything around it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    uuid TEXT PRIMARY KEY, version INTEGER NOT NULL, state TEXT NOT NULL,
    last_event TEXT NOT NULL, updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    job TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL,
    date TEXT NOT NULL, message_id TEXT NOT NULL UNIQUE, PRIMARY KEY (job, version)
);
"""


def connect(path: Path | str) -> sqlite3.Connection:
    connection = sqlite3.connect(str(path), isolation_level=None, timeout=30)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA busy_timeout=30000")
    return connection


def create(path: Path, jobs: Iterable[str]) -> None:
    connection = connect(path)
    connection.executescript(SCHEMA)
    now = _now()
    connection.execute("BEGIN")
    connection.executemany(
        "INSERT INTO jobs VALUES (?, 2, 'RUNNING', 'run', ?)", [(job, now) for job in jobs]
    )
    connection.execute("COMMIT")
    connection.close()


def apply_update(connection: sqlite3.Connection, message: dict[str, Any], message_id: str) -> bool:
    """Record the event once; False when this message was applied before (a redelivery)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        seen = connection.execute("SELECT 1 FROM events WHERE message_id = ?", (message_id,))
        if seen.fetchone() is not None:
            connection.execute("ROLLBACK")
            return False
        job = message["uuid"]
        row = connection.execute("SELECT version FROM jobs WHERE uuid = ?", (job,)).fetchone()
        if row is None:
            raise LookupError(f"no job {job}")
        version, now = row[0], _now()
        connection.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
            (
                job,
                version + 1,
                message["name"],
                json.dumps(message.get("data", {})),
                now,
                message_id,
            ),
        )
        updated = connection.execute(
            "UPDATE jobs SET version = ?, last_event = ?, updated = ?"
            " WHERE uuid = ? AND version = ?",
            (version + 1, message["name"], now, job, version),
        )
        if updated.rowcount != 1:
            raise RuntimeError(f"job {job} changed under us")
        connection.execute("COMMIT")
        return True
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def applied(path: Path) -> int:
    """How many events are recorded (read by the benchmark while the consumer writes)."""
    connection = connect(path)
    try:
        return int(connection.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        connection.close()


def _now() -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        + f".{time.time_ns() // 1_000_000 % 1000:03d}Z"
    )
