"""The embedded store: one SQLite file in the data directory, through aiosqlite.

Choices:

- WAL journal with ``synchronous=FULL``: a delivery is acked once its event is committed, so a
  commit must survive a power cut, not only a process crash (``NORMAL`` in WAL mode may lose the
  last transactions on power loss). Writes are small; the extra fsync is cheap next to a broker
  round trip.
- One connection, and one ``asyncio.Lock`` around every operation. aiosqlite runs a connection's
  statements on one thread, so coroutines sharing it would otherwise interleave statements inside
  each other's transactions (and read each other's uncommitted rows). Serializing whole operations
  keeps every write a unit; embedded mode is one process, and SQLite writes one at a time anyway.
- Every write is ``BEGIN IMMEDIATE`` ... ``COMMIT``: the write lock is taken up front, so a second
  process on the same file waits (busy timeout) instead of failing halfway with a lock upgrade.
- ``append_event`` checks the consumed message ids and the version, updates the body and records
  the message id in the same transaction: exactly-once effect without a dual write.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Any

import aiosqlite

from pipelinejobs.errors import Conflict, InvalidInput, NotFound, StoreUnavailable
from pipelinejobs.store import _documents, _nonces, _records
from pipelinejobs.store._sqlite_schema import DOCUMENT_COLUMNS, SCHEMA
from pipelinejobs.store.port import (
    JSON,
    AppendOutcome,
    AppendResult,
    DocumentKind,
    Store,
    StoredDocument,
)

MEMORY = ":memory:"
_EXECUTION_ACTOR = "json_extract(body, '$.actor')"
_EXECUTION_SENDER = "json_extract(body, '$.sender')"
_EXECUTION_SUBMITTED = "json_extract(body, '$.submitted')"
"""Execution fields queries filter and sort on, spelled as the ``executions_by_actor`` index
spells them (SQLite uses an expression index only for the same expression)."""


class SQLiteStore(Store):
    """The :class:`Store` on one SQLite database file (``":memory:"`` for a throwaway one)."""

    def __init__(self, path: Path | str, *, busy_timeout: float = 5.0) -> None:
        self.path = path if str(path) == MEMORY else Path(path)
        self.busy_timeout = busy_timeout
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        async with self._lock:
            if self._db is not None:
                return
            with _translated():
                if isinstance(self.path, Path):
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                db = await aiosqlite.connect(
                    str(self.path), isolation_level=None, timeout=self.busy_timeout
                )
                try:
                    await db.execute("PRAGMA journal_mode=WAL")
                    await db.execute("PRAGMA synchronous=FULL")
                    await db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
                    await db.executescript(SCHEMA)
                except BaseException:
                    await db.close()
                    raise
            self._db = db

    async def close(self) -> None:
        async with self._lock:
            db, self._db = self._db, None
            if db is not None:
                with _translated():
                    await db.close()

    async def ping(self) -> None:
        async with self._read() as db:
            await db.execute("SELECT 1")

    # -- event-sourced documents -------------------------------------------------------------
    async def create_document(
        self, kind: DocumentKind, body: JSON, *, message_id: str
    ) -> tuple[StoredDocument, bool]:
        table = _documents.check_kind(kind)
        uuid = _documents.check_new_document(kind, body)
        text = _dumps(body, f"{_documents.noun(kind)} {uuid}")
        async with self._write() as db:
            existing = await self._load(db, kind, uuid)
            if existing is not None:
                return existing, False
            await db.execute(
                f"INSERT INTO {table} (uuid, version, body) VALUES (?, 1, ?)",  # noqa: S608
                (uuid, text),
            )
            await _consume(db, kind, uuid, message_id)
        return StoredDocument(uuid, 1, json.loads(text), frozenset({message_id})), True

    async def append_event(
        self,
        kind: DocumentKind,
        uuid: str,
        *,
        expected_version: int,
        event: JSON,
        changes: Mapping[str, Any],
        message_id: str,
    ) -> AppendResult:
        table = _documents.check_kind(kind)
        _documents.check_changes(kind, changes)
        async with self._write() as db:
            stored = _documents.require_document(kind, uuid, await self._load(db, kind, uuid))
            decided = _documents.decide_append(
                kind, stored, expected_version=expected_version, message_id=message_id
            )
            if decided is not None:
                return decided
            body = _documents.appended(stored.body, event, changes)
            text = _dumps(body, f"{_documents.noun(kind)} {uuid}")
            await db.execute(
                f"UPDATE {table} SET body = ?, version = ? WHERE uuid = ? AND version = ?",  # noqa: S608
                (text, expected_version + 1, uuid, expected_version),
            )
            await _consume(db, kind, uuid, message_id)
        document = StoredDocument(
            uuid, expected_version + 1, json.loads(text), stored.message_ids | {message_id}
        )
        return AppendResult(AppendOutcome.APPLIED, document)

    async def get_document(self, kind: DocumentKind, uuid: str) -> StoredDocument | None:
        _documents.check_kind(kind)
        async with self._read() as db:
            return await self._load(db, kind, uuid)

    async def find_documents(
        self,
        kind: DocumentKind,
        filters: Mapping[str, str] | None = None,
        *,
        limit: int = 100,
        offset: int = 0,
    ) -> list[StoredDocument]:
        table = _documents.check_kind(kind)
        _documents.check_page(limit, offset)
        where, params = _where(_documents.check_filters(filters))
        sql = (
            f"SELECT uuid, version, body FROM {table}{where} "  # noqa: S608
            "ORDER BY updated DESC, uuid LIMIT ? OFFSET ?"
        )
        async with self._read() as db:
            rows = await db.execute_fetchall(sql, (*params, limit, offset))
            uuids = [str(row[0]) for row in rows]
            consumed = await _consumed_by(db, kind, uuids)
        return [
            StoredDocument(
                str(row[0]), int(row[1]), json.loads(row[2]), consumed.get(row[0], frozenset())
            )
            for row in rows
        ]

    async def count_documents(
        self, kind: DocumentKind, filters: Mapping[str, str] | None = None
    ) -> int:
        table = _documents.check_kind(kind)
        where, params = _where(_documents.check_filters(filters))
        async with self._read() as db:
            rows = await db.execute_fetchall(f"SELECT count(*) FROM {table}{where}", params)  # noqa: S608
        return int(next(iter(rows))[0])

    async def _load(
        self, db: aiosqlite.Connection, kind: DocumentKind, uuid: str
    ) -> StoredDocument | None:
        rows = list(
            await db.execute_fetchall(
                f"SELECT version, body FROM {kind} WHERE uuid = ?",  # noqa: S608
                (uuid,),
            )
        )
        if not rows:
            return None
        consumed = await _consumed_by(db, kind, [uuid])
        version, body = rows[0]
        return StoredDocument(uuid, int(version), json.loads(body), consumed.get(uuid, frozenset()))

    # -- files -------------------------------------------------------------------------------
    async def upsert_file(self, file: JSON) -> bool:
        uuid = _records.check_file(file)
        async with self._write() as db:
            stored = await _fetch_body(db, "SELECT body FROM files WHERE uuid = ?", (uuid,))
            merged = _records.merged_file(stored, file)
            await db.execute(
                "INSERT INTO files (uuid, body) VALUES (?, ?) "
                "ON CONFLICT (uuid) DO UPDATE SET body = excluded.body",
                (uuid, _dumps(merged, f"file {uuid}")),
            )
            await db.executemany(
                "INSERT OR IGNORE INTO file_generated_by (job_uuid, file_uuid) VALUES (?, ?)",
                [(job, uuid) for job in merged["generated_by"]],
            )
        return stored is None

    async def get_file(self, uuid: str) -> JSON | None:
        async with self._read() as db:
            return await _fetch_body(db, "SELECT body FROM files WHERE uuid = ?", (uuid,))

    async def find_files(
        self,
        *,
        generated_by: str | None = None,
        name: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[JSON]:
        _documents.check_page(limit, offset)
        conditions: list[str] = []
        params: list[Any] = []
        if generated_by is None:
            source = "files f"
        else:
            source = "file_generated_by g JOIN files f ON f.uuid = g.file_uuid"
            conditions.append("g.job_uuid = ?")
            params.append(generated_by)
        if name is not None:
            conditions.append("f.name = ?")
            params.append(name)
        where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
        # Fixed fragments only; every value is a parameter.
        sql = f"SELECT f.body FROM {source} {where}ORDER BY f.name, f.uuid LIMIT ? OFFSET ?"  # noqa: S608
        async with self._read() as db:
            rows = await db.execute_fetchall(sql, (*params, limit, offset))
        return [json.loads(row[0]) for row in rows]

    # -- catalog -----------------------------------------------------------------------------
    async def put_catalog_record(self, record: JSON) -> None:
        uuid, text_id = _records.check_catalog_record(record)
        parents = _records.text_list(record, "child_of", "catalog record")
        text = _dumps(record, f"catalog record {uuid}")
        async with self._write() as db:
            try:
                await db.execute(
                    "INSERT INTO catalog (uuid, body) VALUES (?, ?) "
                    "ON CONFLICT (uuid) DO UPDATE SET body = excluded.body",
                    (uuid, text),
                )
            except sqlite3.IntegrityError:
                raise Conflict(
                    f"catalog text id {text_id!r} already names another record than {uuid}"
                ) from None
            await db.execute("DELETE FROM catalog_child_of WHERE child_uuid = ?", (uuid,))
            await db.executemany(
                "INSERT OR IGNORE INTO catalog_child_of (parent_uuid, child_uuid) VALUES (?, ?)",
                [(parent, uuid) for parent in parents],
            )

    async def get_catalog_record(self, key: str) -> JSON | None:
        async with self._read() as db:
            return await _fetch_body(
                db,
                "SELECT body FROM (SELECT body, 0 AS rank FROM catalog WHERE uuid = ? "
                "UNION ALL SELECT body, 1 FROM catalog WHERE text_id = ?) ORDER BY rank LIMIT 1",
                (key, key),
            )

    async def find_catalog_children(self, parent_uuid: str, record_type: str) -> list[JSON]:
        async with self._read() as db:
            rows = await db.execute_fetchall(
                "SELECT c.body FROM catalog_child_of l JOIN catalog c ON c.uuid = l.child_uuid "
                "WHERE l.parent_uuid = ? AND c.type = ? ORDER BY c.text_id",
                (parent_uuid, record_type),
            )
        return [json.loads(row[0]) for row in rows]

    async def find_catalog_records(
        self, record_type: str, *, limit: int = 100, offset: int = 0
    ) -> list[JSON]:
        _documents.check_page(limit, offset)
        async with self._read() as db:
            rows = await db.execute_fetchall(
                "SELECT body FROM catalog WHERE type = ? ORDER BY text_id LIMIT ? OFFSET ?",
                (record_type, limit, offset),
            )
        return [json.loads(row[0]) for row in rows]

    async def count_catalog_records(self, record_type: str) -> int:
        async with self._read() as db:
            rows = await db.execute_fetchall(
                "SELECT COUNT(*) FROM catalog WHERE type = ?", (record_type,)
            )
        return int(next(iter(rows))[0])

    # -- executions --------------------------------------------------------------------------
    async def save_execution(self, execution: JSON) -> None:
        execution_id = _records.check_execution(execution)
        lines = _records.text_list(execution, "logs", "execution")
        body = {name: value for name, value in execution.items() if name != "logs"}
        text = _dumps(body, f"execution {execution_id}")
        async with self._write() as db:
            cursor = await db.execute(
                "INSERT INTO executions (id, body) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                (execution_id, text),
            )
            if cursor.rowcount == 1:
                await _append_log(db, execution_id, lines)

    async def submit_execution(self, execution: JSON) -> bool:
        execution_id = _records.check_execution(execution)
        lines = _records.text_list(execution, "logs", "execution")
        body = {name: value for name, value in execution.items() if name != "logs"}
        text = _dumps(body, f"execution {execution_id}")
        async with self._write() as db:
            stored = await _fetch_body(
                db, "SELECT body FROM executions WHERE id = ?", (execution_id,)
            )
            if stored is None:
                await db.execute(
                    "INSERT INTO executions (id, body) VALUES (?, ?)", (execution_id, text)
                )
            elif _records.never_accepted(stored):
                await db.execute(
                    "UPDATE executions SET body = ? WHERE id = ?", (text, execution_id)
                )
                await db.execute(
                    "DELETE FROM execution_logs WHERE execution_id = ?", (execution_id,)
                )
            else:
                return False
            await _append_log(db, execution_id, lines)
        return True

    async def update_execution(
        self,
        execution_id: str,
        *,
        fields: Mapping[str, Any] | None = None,
        log_lines: Sequence[str] = (),
        if_status: str | None = None,
    ) -> bool:
        changes = dict(fields or {})
        _records.check_execution_update(changes, log_lines)
        async with self._write() as db:
            stored = await _fetch_body(
                db, "SELECT body FROM executions WHERE id = ?", (execution_id,)
            )
            if stored is None:
                raise NotFound(f"no execution with id {execution_id}")
            if if_status is not None and stored.get("status") != if_status:
                return False
            if changes:
                await db.execute(
                    "UPDATE executions SET body = ? WHERE id = ?",
                    (_dumps({**stored, **changes}, f"execution {execution_id}"), execution_id),
                )
            await _append_log(db, execution_id, log_lines)
        return True

    async def get_execution(self, execution_id: str) -> JSON | None:
        async with self._read() as db:
            body = await _fetch_body(
                db, "SELECT body FROM executions WHERE id = ?", (execution_id,)
            )
            if body is None:
                return None
            rows = await db.execute_fetchall(
                "SELECT line FROM execution_logs WHERE execution_id = ? ORDER BY line_no",
                (execution_id,),
            )
        return {**body, "logs": [str(row[0]) for row in rows]}

    async def find_executions(
        self,
        actor: str,
        *,
        senders: Sequence[str] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[JSON]:
        _documents.check_page(limit, offset)
        sql = f"SELECT body FROM executions WHERE {_EXECUTION_ACTOR} = ?"  # noqa: S608
        params: list[Any] = [actor]
        if senders is not None:
            if not senders:
                return []
            sql += f" AND {_EXECUTION_SENDER} IN ({', '.join('?' for _ in senders)})"
            params.extend(senders)
        sql += f" ORDER BY {_EXECUTION_SUBMITTED} DESC, id LIMIT ? OFFSET ?"
        async with self._read() as db:
            rows = await db.execute_fetchall(sql, (*params, limit, offset))
        return [json.loads(row[0]) for row in rows]

    # -- nonces ------------------------------------------------------------------------------
    async def save_nonce(self, nonce: JSON) -> None:
        nonce_id = _nonces.check_nonce(nonce)
        text = _dumps(nonce, f"nonce {nonce_id}")
        async with self._write() as db:
            try:
                await db.execute("INSERT INTO nonces (id, body) VALUES (?, ?)", (nonce_id, text))
            except sqlite3.IntegrityError:
                raise Conflict(f"nonce {nonce_id} already exists") from None

    async def get_nonce(self, nonce_id: str) -> JSON | None:
        async with self._read() as db:
            return await _fetch_body(db, "SELECT body FROM nonces WHERE id = ?", (nonce_id,))

    async def list_nonces(self, actor: str) -> list[JSON]:
        async with self._read() as db:
            rows = await db.execute_fetchall(
                "SELECT body FROM nonces WHERE actor = ? ORDER BY create_time, id", (actor,)
            )
        return [json.loads(row[0]) for row in rows]

    async def delete_nonce(self, actor: str, nonce_id: str) -> bool:
        async with self._write() as db:
            cursor = await db.execute(
                "DELETE FROM nonces WHERE id = ? AND actor = ?", (nonce_id, actor)
            )
            return cursor.rowcount == 1

    async def redeem_nonce(self, nonce_id: str, *, actor: str, level: int, now: str) -> JSON:
        async with self._write() as db:
            stored = await _fetch_body(db, "SELECT body FROM nonces WHERE id = ?", (nonce_id,))
            nonce = _nonces.check_redeemable(nonce_id, stored, actor=actor, level=level, now=now)
            used = _nonces.used_once(nonce, now)
            await db.execute(
                "UPDATE nonces SET body = ? WHERE id = ?",
                (_dumps(used, f"nonce {nonce_id}"), nonce_id),
            )
        return used

    async def refund_nonce(self, nonce_id: str, *, actor: str) -> JSON | None:
        async with self._write() as db:
            stored = await _fetch_body(db, "SELECT body FROM nonces WHERE id = ?", (nonce_id,))
            refunded = None if stored is None else _nonces.refunded_once(stored, actor)
            if refunded is not None:
                await db.execute(
                    "UPDATE nonces SET body = ? WHERE id = ?",
                    (_dumps(refunded, f"nonce {nonce_id}"), nonce_id),
                )
        return refunded

    # -- units of work -----------------------------------------------------------------------
    def _connection(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreUnavailable(f"{self!r} is not started (or was closed); call start()")
        return self._db

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[aiosqlite.Connection]:
        """One read, alone on the connection."""
        async with self._lock:
            with _translated():
                yield self._connection()

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One transaction holding the write lock from its first statement."""
        async with self._lock:
            db = self._connection()
            with _translated():
                try:
                    await db.execute("BEGIN IMMEDIATE")
                    yield db
                except BaseException:
                    with suppress(sqlite3.Error):
                        await db.execute("ROLLBACK")
                    raise
                await db.execute("COMMIT")


@contextmanager
def _translated() -> Iterator[None]:
    """sqlite3's errors as ours: a refused duplicate is a conflict; a locked, unreadable or
    unopenable database (or directory) is unavailability."""
    try:
        yield
    except sqlite3.IntegrityError as error:
        raise Conflict(f"SQLite refused the write as a duplicate: {error}") from error
    except (sqlite3.Error, OSError) as error:
        raise StoreUnavailable(f"SQLite store failed: {error}") from error


def _dumps(value: Any, what: str) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"{what} cannot be stored: it is not plain JSON ({error})") from None


def _where(filters: Mapping[str, str]) -> tuple[str, tuple[str, ...]]:
    """A WHERE clause: indexed columns by name, any other top-level field through json_extract."""
    clauses: list[str] = []
    params: list[str] = []
    for name, value in filters.items():
        if name in DOCUMENT_COLUMNS:
            clauses.append(f"{name} = ?")
        else:
            clauses.append("json_extract(body, ?) = ?")
            params.append(f"$.{name}")
        params.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


async def _consume(db: aiosqlite.Connection, kind: str, uuid: str, message_id: str) -> None:
    await db.execute(
        "INSERT INTO consumed (kind, uuid, message_id) VALUES (?, ?, ?)", (kind, uuid, message_id)
    )


async def _consumed_by(
    db: aiosqlite.Connection, kind: str, uuids: Sequence[str]
) -> dict[str, frozenset[str]]:
    """The consumed message ids of each document, in one query."""
    if not uuids:
        return {}
    rows = await db.execute_fetchall(
        "SELECT uuid, message_id FROM consumed "
        "WHERE kind = ? AND uuid IN (SELECT value FROM json_each(?))",
        (kind, json.dumps(list(uuids))),
    )
    found: dict[str, set[str]] = {}
    for uuid, message_id in rows:
        found.setdefault(uuid, set()).add(message_id)
    return {uuid: frozenset(ids) for uuid, ids in found.items()}


async def _fetch_body(db: aiosqlite.Connection, sql: str, params: tuple[Any, ...]) -> JSON | None:
    rows = list(await db.execute_fetchall(sql, params))
    if not rows:
        return None
    body: JSON = json.loads(rows[0][0])
    return body


async def _append_log(db: aiosqlite.Connection, execution_id: str, lines: Sequence[str]) -> None:
    await db.executemany(
        "INSERT INTO execution_logs (execution_id, line) VALUES (?, ?)",
        [(execution_id, line) for line in lines],
    )
