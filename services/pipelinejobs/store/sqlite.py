"""The embedded store: one SQLite file in the data directory, on one dedicated thread.

Choices:

- WAL journal with ``synchronous=FULL``: a delivery is acked once its event is committed, so a
  commit must survive a power cut, not only a process crash (``NORMAL`` in WAL mode may lose the
  last transactions on power loss).
- One connection owned by one thread (a single-worker executor). Each operation, with all its
  statements, is one call to that thread: one hop per operation, not one per statement (the hop
  per statement of aiosqlite doubled the time spent in the database), and operations never
  interleave inside each other's transactions. Embedded mode is one process, and SQLite writes
  one at a time anyway.
- Every write is ``BEGIN IMMEDIATE`` ... ``COMMIT``: the write lock is taken up front, so a second
  process on the same file waits (busy timeout) instead of failing halfway with a lock upgrade.
- Waiting for a locked store is bounded: a write waits at most ``busy_timeout`` seconds from the
  moment it was queued (``PIPELINEJOBS_STORE_LOCK_TIMEOUT``, default 2), behind the writes
  before it and for the file's lock together, then fails with ``StoreUnavailable`` (a 503 with
  ``Retry-After`` at the gateway, a retry in place in an actor) having written nothing.
- The event log: ``events`` holds one row per event (unique on stream and version, and on stream
  and message id), ``position`` is its ``INTEGER PRIMARY KEY AUTOINCREMENT``: since writes are
  serialized by the database lock, positions are a global total order equal to commit order.
  ``append_event`` checks the consumed message ids and the version, inserts the event and
  updates the projection in the same transaction: exactly-once effect without a dual write, and
  a crash between the two writes leaves neither.
- The schema version is recorded (``PRAGMA user_version``); ``start`` upgrades a database written
  by an earlier release (see :mod:`pipelinejobs.store._sqlite_schema`).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

from pipelinejobs.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    StoreUnavailable,
    VersionConflict,
)
from pipelinejobs.store import _documents, _nonces, _records
from pipelinejobs.store._sqlite_schema import DOCUMENT_COLUMNS, upgrade
from pipelinejobs.store.port import (
    JSON,
    AppendEvent,
    AppendOutcome,
    AppendResult,
    DocumentKind,
    EventRecord,
    FeedFilter,
    RecordConsumed,
    SettleExecution,
    Store,
    StoredDocument,
    UnitWrite,
)

MEMORY = ":memory:"
DEFAULT_BUSY_TIMEOUT = 2.0
"""Seconds a write waits for a locked store before it fails as unavailable."""
_EXECUTION_ACTOR = "json_extract(body, '$.actor')"
_EXECUTION_SENDER = "json_extract(body, '$.sender')"
_EXECUTION_SUBMITTED = "json_extract(body, '$.submitted')"
"""Execution fields queries filter and sort on, spelled as the ``executions_by_actor`` index
spells them (SQLite uses an expression index only for the same expression)."""
T = TypeVar("T")
_EVENT_COLUMNS = "position, kind, stream, version, body, message_id, sender, state, pipeline_uuid"


class SQLiteStore(Store):
    """The :class:`Store` on one SQLite database file (``":memory:"`` for a throwaway one)."""

    CRASH_POINTS: ClassVar[tuple[str, ...]] = ("event-written", "projection-written")
    """Where a write of the event log can be interrupted (see ``fault_injector``)."""

    def __init__(self, path: Path | str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        if not busy_timeout > 0:
            raise InvalidInput(f"busy_timeout: {busy_timeout!r}; expected seconds > 0")
        self.path = path if str(path) == MEMORY else Path(path)
        self.busy_timeout = busy_timeout
        self.fault_injector: Callable[[str], None] | None = None
        """For crash tests: called with each crash point an event-log write reaches."""
        self._db: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        """The event loop's own connection, for point reads (:meth:`_lookup`)."""
        self._executor: ThreadPoolExecutor | None = None
        self._pending: deque[_Write] = deque()
        self._flush_scheduled = False

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite-store")
        await self._call(self._open)

    def _open(self) -> None:
        if self._db is not None:
            return
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(
            str(self.path),
            isolation_level=None,
            timeout=self.busy_timeout,
            check_same_thread=False,
        )
        try:
            db.execute("PRAGMA synchronous=FULL")
            db.execute(f"PRAGMA busy_timeout={_milliseconds(self.busy_timeout)}")
            db.execute("PRAGMA journal_mode=WAL")
            # From now on the store waits for the write lock itself (_polled): against another
            # process that commits often, SQLite's sleeping busy handler starved the upgrade.
            db.execute("PRAGMA busy_timeout=0")
            self._polled(time.monotonic(), partial(upgrade, db))
        except BaseException:
            db.close()
            raise
        self._db = db
        if isinstance(self.path, Path):
            reader = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            reader.execute("PRAGMA query_only=1")
            reader.execute("PRAGMA busy_timeout=0")
            self._reader = reader

    async def close(self) -> None:
        executor = self._executor
        if executor is None:
            return
        await self._call(self._close_db)
        self._executor = None
        executor.shutdown(wait=False)

    def _close_db(self) -> None:
        db, self._db = self._db, None
        reader, self._reader = self._reader, None
        for connection in (reader, db):
            if connection is not None:
                connection.close()

    async def ping(self) -> None:
        await self._read(lambda db: db.execute("SELECT 1").fetchone())

    # -- event log -------------------------------------------------------------------------------
    async def create_document(
        self, kind: DocumentKind, body: JSON, *, message_id: str, sender: str | None = None
    ) -> tuple[StoredDocument, bool]:
        _documents.check_kind(kind)
        uuid = _documents.check_new_document(kind, body)
        projection, events = _documents.split_new(body)
        for event in events:
            _documents.check_event(kind, uuid, event)
        what = f"{_documents.noun(kind)} {uuid}"
        text = _dumps(projection, what)
        event_texts = [_dumps(event, what) for event in events]
        return await self._write(
            self._create, kind, uuid, projection, text, events, event_texts, message_id, sender
        )

    def _create(
        self,
        db: sqlite3.Connection,
        kind: DocumentKind,
        uuid: str,
        projection: JSON,
        text: str,
        events: list[JSON],
        event_texts: list[str],
        message_id: str,
        sender: str | None,
    ) -> tuple[StoredDocument, bool]:
        existing = _load(db, kind, uuid, [message_id])
        if existing is not None:
            return existing, False
        state, pipeline = _documents.stream_facts(kind, uuid, projection)
        db.executemany(
            "INSERT INTO events (kind, stream, version, name, body, message_id, sender, state, "
            "pipeline_uuid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    kind,
                    uuid,
                    version,
                    event["name"],
                    event_text,
                    _documents.creation_message_id(message_id, version),
                    sender,
                    state if version == len(events) else None,
                    pipeline,
                )
                for version, (event, event_text) in enumerate(
                    zip(events, event_texts, strict=True), 1
                )
            ],
        )
        self._reached("event-written")
        db.execute(
            f"INSERT INTO {kind} (uuid, version, body) VALUES (?, ?, ?)",  # noqa: S608
            (uuid, len(events), text),
        )
        self._reached("projection-written")
        return StoredDocument(uuid, len(events), projection, frozenset({message_id})), True

    async def append_event(
        self,
        kind: DocumentKind,
        uuid: str,
        *,
        expected_version: int,
        event: JSON,
        changes: Mapping[str, Any],
        message_id: str,
        sender: str | None = None,
    ) -> AppendResult:
        _documents.check_kind(kind)
        _documents.check_changes(kind, changes)
        entry = _documents.check_event(kind, uuid, event)
        what = f"{_documents.noun(kind)} {uuid}"
        event_text = _dumps(entry, what)
        _dumps(dict(changes), what)
        return await self._write(
            self._append,
            kind,
            uuid,
            expected_version,
            entry,
            event_text,
            changes,
            message_id,
            sender,
        )

    def _append(
        self,
        db: sqlite3.Connection,
        kind: DocumentKind,
        uuid: str,
        expected_version: int,
        event: JSON,
        event_text: str,
        changes: Mapping[str, Any],
        message_id: str,
        sender: str | None,
    ) -> AppendResult:
        stored = _documents.require_document(kind, uuid, _load(db, kind, uuid, [message_id]))
        decided = _documents.decide_append(
            kind, stored, expected_version=expected_version, message_id=message_id
        )
        if decided is not None:
            return decided
        body = _documents.appended(stored.body, changes)
        state, pipeline = _documents.stream_facts(kind, uuid, body)
        version = expected_version + 1
        db.execute(
            "INSERT INTO events (kind, stream, version, name, body, message_id, sender, state, "
            "pipeline_uuid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (kind, uuid, version, event["name"], event_text, message_id, sender, state, pipeline),
        )
        self._reached("event-written")
        db.execute(
            f"UPDATE {kind} SET body = ?, version = ? WHERE uuid = ? AND version = ?",  # noqa: S608
            (_dumps(body, uuid), version, uuid, expected_version),
        )
        self._reached("projection-written")
        document = StoredDocument(uuid, version, body, frozenset({message_id}))
        return AppendResult(AppendOutcome.APPLIED, document)

    async def record_consumed(self, kind: DocumentKind, uuid: str, message_id: str) -> bool:
        _documents.check_kind(kind)
        return await self._write(_record_consumed, kind, uuid, message_id)

    async def commit(self, writes: Sequence[UnitWrite]) -> None:
        """One transaction (a savepoint of the group commit): all of ``writes`` or none."""
        prepared = [_prepared(write) for write in writes]
        if prepared:
            await self._write(self._commit, prepared)

    def _commit(self, db: sqlite3.Connection, writes: Sequence[_Prepared]) -> None:
        for write in writes:
            if isinstance(write, _PreparedAppend):
                append = write.append
                result = self._append(
                    db,
                    append.kind,
                    append.uuid,
                    append.expected_version,
                    write.event,
                    write.event_text,
                    append.changes,
                    append.message_id,
                    append.sender,
                )
                if result.outcome is not AppendOutcome.APPLIED:
                    raise VersionConflict(
                        f"message {append.message_id!r} was applied to "
                        f"{_documents.noun(append.kind)} {append.uuid} meanwhile"
                    )
            elif isinstance(write, RecordConsumed):
                _record_consumed(db, write.kind, write.uuid, write.message_id)
            else:
                _settle_execution(db, write)

    async def get_document(
        self, kind: DocumentKind, uuid: str, *, message_ids: Iterable[str] = ()
    ) -> StoredDocument | None:
        _documents.check_kind(kind)
        return await self._lookup(_load, kind, uuid, list(message_ids))

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
        rows = await self._read(lambda db: db.execute(sql, (*params, limit, offset)).fetchall())
        return [StoredDocument(str(row[0]), int(row[1]), json.loads(row[2])) for row in rows]

    async def count_documents(
        self, kind: DocumentKind, filters: Mapping[str, str] | None = None
    ) -> int:
        table = _documents.check_kind(kind)
        where, params = _where(_documents.check_filters(filters))
        sql = f"SELECT count(*) FROM {table}{where}"  # noqa: S608
        return int(await self._read(lambda db: db.execute(sql, params).fetchone()[0]))

    async def read_events(
        self, kind: DocumentKind, uuid: str, *, after: int = 0, limit: int = 100
    ) -> list[EventRecord]:
        _documents.check_kind(kind)
        _documents.check_cursor(after, limit)
        sql = (
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE stream = ? AND kind = ? "  # noqa: S608
            "AND version > ? ORDER BY version LIMIT ?"
        )
        rows = await self._read(lambda db: db.execute(sql, (uuid, kind, after, limit)).fetchall())
        return [_event_record(row) for row in rows]

    async def find_event(
        self, kind: DocumentKind, uuid: str, *, message_id: str
    ) -> EventRecord | None:
        _documents.check_kind(kind)
        sql = (
            f"SELECT {_EVENT_COLUMNS} FROM events "  # noqa: S608
            "WHERE stream = ? AND message_id = ? AND kind = ?"
        )
        row = await self._lookup(lambda db: db.execute(sql, (uuid, message_id, kind)).fetchone())
        return None if row is None else _event_record(row)

    async def read_feed(
        self, *, after: int = 0, limit: int = 100, filters: FeedFilter | None = None
    ) -> list[EventRecord]:
        _documents.check_cursor(after, limit)
        chosen = filters or FeedFilter()
        clauses = ["position > ?"]
        params: list[Any] = [after]
        if chosen.job is not None:
            clauses.append("stream = ? AND kind = 'jobs'")
            params.append(chosen.job)
        for column, value in (
            ("pipeline_uuid", chosen.pipeline),
            ("name", chosen.name),
            ("state", chosen.state),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        sql = (
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE {' AND '.join(clauses)} "  # noqa: S608
            "ORDER BY position LIMIT ?"
        )
        rows = await self._read(lambda db: db.execute(sql, (*params, limit)).fetchall())
        return [_event_record(row) for row in rows]

    # -- files -------------------------------------------------------------------------------
    async def upsert_file(self, file: JSON) -> bool:
        uuid = _records.check_file(file)

        def upsert(db: sqlite3.Connection) -> bool:
            stored = _fetch_body(db, "SELECT body FROM files WHERE uuid = ?", (uuid,))
            merged = _records.merged_file(stored, file)
            db.execute(
                "INSERT INTO files (uuid, body) VALUES (?, ?) "
                "ON CONFLICT (uuid) DO UPDATE SET body = excluded.body",
                (uuid, _dumps(merged, f"file {uuid}")),
            )
            db.executemany(
                "INSERT OR IGNORE INTO file_generated_by (job_uuid, file_uuid) VALUES (?, ?)",
                [(job, uuid) for job in merged["generated_by"]],
            )
            return stored is None

        return await self._write(upsert)

    async def get_file(self, uuid: str) -> JSON | None:
        return await self._lookup(_fetch_body, "SELECT body FROM files WHERE uuid = ?", (uuid,))

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
        rows = await self._read(lambda db: db.execute(sql, (*params, limit, offset)).fetchall())
        return [json.loads(row[0]) for row in rows]

    # -- catalog -----------------------------------------------------------------------------
    async def put_catalog_record(self, record: JSON) -> None:
        await self.put_catalog_records([record])

    async def put_catalog_records(self, records: Sequence[JSON]) -> None:
        checked = []
        for record in records:
            uuid, text_id = _records.check_catalog_record(record)
            parents = _records.text_list(record, "child_of", "catalog record")
            checked.append((uuid, text_id, parents, _dumps(record, f"catalog record {uuid}")))

        def put_all(db: sqlite3.Connection) -> None:
            for uuid, text_id, parents, text in checked:
                try:
                    db.execute(
                        "INSERT INTO catalog (uuid, body) VALUES (?, ?) "
                        "ON CONFLICT (uuid) DO UPDATE SET body = excluded.body",
                        (uuid, text),
                    )
                except sqlite3.IntegrityError:
                    raise Conflict(
                        f"catalog text id {text_id!r} already names another record than {uuid}"
                    ) from None
                db.execute("DELETE FROM catalog_child_of WHERE child_uuid = ?", (uuid,))
                db.executemany(
                    "INSERT OR IGNORE INTO catalog_child_of (parent_uuid, child_uuid) "
                    "VALUES (?, ?)",
                    [(parent, uuid) for parent in parents],
                )

        await self._write(put_all)

    async def get_catalog_record(self, key: str) -> JSON | None:
        return await self._lookup(
            _fetch_body,
            "SELECT body FROM (SELECT body, 0 AS rank FROM catalog WHERE uuid = ? "
            "UNION ALL SELECT body, 1 FROM catalog WHERE text_id = ?) ORDER BY rank LIMIT 1",
            (key, key),
        )

    async def find_catalog_children(self, parent_uuid: str, record_type: str) -> list[JSON]:
        sql = (
            "SELECT c.body FROM catalog_child_of l JOIN catalog c ON c.uuid = l.child_uuid "
            "WHERE l.parent_uuid = ? AND c.type = ? ORDER BY c.text_id"
        )
        rows = await self._read(lambda db: db.execute(sql, (parent_uuid, record_type)).fetchall())
        return [json.loads(row[0]) for row in rows]

    async def find_catalog_records(
        self, record_type: str, *, limit: int = 100, offset: int = 0
    ) -> list[JSON]:
        _documents.check_page(limit, offset)
        sql = "SELECT body FROM catalog WHERE type = ? ORDER BY text_id LIMIT ? OFFSET ?"
        rows = await self._read(lambda db: db.execute(sql, (record_type, limit, offset)).fetchall())
        return [json.loads(row[0]) for row in rows]

    async def count_catalog_records(self, record_type: str) -> int:
        sql = "SELECT COUNT(*) FROM catalog WHERE type = ?"
        return int(await self._read(lambda db: db.execute(sql, (record_type,)).fetchone()[0]))

    # -- executions --------------------------------------------------------------------------
    async def save_execution(self, execution: JSON) -> None:
        execution_id = _records.check_execution(execution)
        lines = _records.text_list(execution, "logs", "execution")
        body = {name: value for name, value in execution.items() if name != "logs"}
        text = _dumps(body, f"execution {execution_id}")

        def save(db: sqlite3.Connection) -> None:
            cursor = db.execute(
                "INSERT INTO executions (id, body) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                (execution_id, text),
            )
            if cursor.rowcount == 1:
                _append_log(db, execution_id, lines)

        await self._write(save)

    async def submit_execution(self, execution: JSON) -> bool:
        execution_id = _records.check_execution(execution)
        lines = _records.text_list(execution, "logs", "execution")
        body = {name: value for name, value in execution.items() if name != "logs"}
        text = _dumps(body, f"execution {execution_id}")

        def submit(db: sqlite3.Connection) -> bool:
            stored = _fetch_body(db, "SELECT body FROM executions WHERE id = ?", (execution_id,))
            if stored is None:
                db.execute("INSERT INTO executions (id, body) VALUES (?, ?)", (execution_id, text))
            elif _records.never_accepted(stored):
                db.execute("UPDATE executions SET body = ? WHERE id = ?", (text, execution_id))
                db.execute("DELETE FROM execution_logs WHERE execution_id = ?", (execution_id,))
            else:
                return False
            _append_log(db, execution_id, lines)
            return True

        return await self._write(submit)

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
        lines = list(log_lines)

        def update(db: sqlite3.Connection) -> bool:
            stored = _fetch_body(db, "SELECT body FROM executions WHERE id = ?", (execution_id,))
            if stored is None:
                raise NotFound(f"no execution with id {execution_id}")
            if if_status is not None and stored.get("status") != if_status:
                return False
            if changes:
                db.execute(
                    "UPDATE executions SET body = ? WHERE id = ?",
                    (_dumps({**stored, **changes}, f"execution {execution_id}"), execution_id),
                )
            _append_log(db, execution_id, lines)
            return True

        return await self._write(update)

    async def get_execution(self, execution_id: str) -> JSON | None:
        def get(db: sqlite3.Connection) -> JSON | None:
            with _snapshot(db):
                body = _fetch_body(db, "SELECT body FROM executions WHERE id = ?", (execution_id,))
                if body is None:
                    return None
                rows = db.execute(
                    "SELECT line FROM execution_logs WHERE execution_id = ? ORDER BY line_no",
                    (execution_id,),
                ).fetchall()
            return {**body, "logs": [str(row[0]) for row in rows]}

        return await self._lookup(get)

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
        rows = await self._read(lambda db: db.execute(sql, (*params, limit, offset)).fetchall())
        return [json.loads(row[0]) for row in rows]

    # -- nonces ------------------------------------------------------------------------------
    async def save_nonce(self, nonce: JSON) -> None:
        nonce_id = _nonces.check_nonce(nonce)
        text = _dumps(nonce, f"nonce {nonce_id}")

        def save(db: sqlite3.Connection) -> None:
            try:
                db.execute("INSERT INTO nonces (id, body) VALUES (?, ?)", (nonce_id, text))
            except sqlite3.IntegrityError:
                raise Conflict(f"nonce {nonce_id} already exists") from None

        await self._write(save)

    async def get_nonce(self, nonce_id: str) -> JSON | None:
        return await self._lookup(_fetch_body, "SELECT body FROM nonces WHERE id = ?", (nonce_id,))

    async def list_nonces(self, actor: str) -> list[JSON]:
        sql = "SELECT body FROM nonces WHERE actor = ? ORDER BY create_time, id"
        rows = await self._read(lambda db: db.execute(sql, (actor,)).fetchall())
        return [json.loads(row[0]) for row in rows]

    async def delete_nonce(self, actor: str, nonce_id: str) -> bool:
        def delete(db: sqlite3.Connection) -> bool:
            cursor = db.execute("DELETE FROM nonces WHERE id = ? AND actor = ?", (nonce_id, actor))
            return cursor.rowcount == 1

        return await self._write(delete)

    async def redeem_nonce(self, nonce_id: str, *, actor: str, level: int, now: str) -> JSON:
        def redeem(db: sqlite3.Connection) -> JSON:
            stored = _fetch_body(db, "SELECT body FROM nonces WHERE id = ?", (nonce_id,))
            nonce = _nonces.check_redeemable(nonce_id, stored, actor=actor, level=level, now=now)
            used = _nonces.used_once(nonce, now)
            db.execute(
                "UPDATE nonces SET body = ? WHERE id = ?",
                (_dumps(used, f"nonce {nonce_id}"), nonce_id),
            )
            return used

        return await self._write(redeem)

    async def refund_nonce(self, nonce_id: str, *, actor: str) -> JSON | None:
        def refund(db: sqlite3.Connection) -> JSON | None:
            stored = _fetch_body(db, "SELECT body FROM nonces WHERE id = ?", (nonce_id,))
            refunded = None if stored is None else _nonces.refunded_once(stored, actor)
            if refunded is not None:
                db.execute(
                    "UPDATE nonces SET body = ? WHERE id = ?",
                    (_dumps(refunded, f"nonce {nonce_id}"), nonce_id),
                )
            return refunded

        return await self._write(refund)

    # -- units of work -----------------------------------------------------------------------
    def _reached(self, point: str) -> None:
        if self.fault_injector is not None:
            self.fault_injector(point)

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreUnavailable(f"{self!r} is not started (or was closed); call start()")
        return self._db

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` on the store's thread, with sqlite3's errors as ours."""
        executor = self._executor
        if executor is None:
            raise StoreUnavailable(f"{self!r} is not started (or was closed); call start()")
        try:
            future = asyncio.get_running_loop().run_in_executor(
                executor, partial(_translated_call, function, *args)
            )
        except RuntimeError as error:  # the executor was shut down meanwhile
            raise StoreUnavailable(f"{self!r} was closed: {error}") from error
        return await future

    async def _read(self, function: Callable[..., T], *args: Any) -> T:
        """One read, alone on the connection: ``function(db, *args)``."""
        queued = time.monotonic()
        return await self._call(
            lambda: self._polled(queued, lambda: function(self._connection(), *args))
        )

    async def _lookup(self, function: Callable[..., T], *args: Any) -> T:
        """A point read (a few rows by key): ``function(db, *args)`` right here, on the event
        loop's own connection (a function of several statements takes a :func:`_snapshot`).

        Why not on the store's thread: there a read waits behind every queued write and the
        commit's fsync, and pays a thread hop (~35 us); a WAL reader needs neither, and the
        lookup itself takes ~10 us. A reader that finds the file busy (a checkpoint or recovery
        by another process) does not wait here, blocking the loop: it goes to the thread.
        Not for scans, which would block the loop for as long as they take.
        """
        reader = self._reader
        if reader is None:  # not started, or ":memory:" (a second connection is another db)
            return await self._read(function, *args)
        try:
            return function(reader, *args)
        except sqlite3.OperationalError as error:
            if not _busy(error):
                raise _translate(error) from error
        except sqlite3.Error as error:
            raise _translate(error) from error
        if reader.in_transaction:
            reader.execute("ROLLBACK")
        return await self._read(function, *args)

    async def _write(self, function: Callable[..., T], *args: Any) -> T:
        """``function(db, *args)`` in a transaction: queued, and committed together with the
        writes queued meanwhile (group commit), each in its own savepoint."""
        if self._executor is None:
            raise StoreUnavailable(f"{self!r} is not started (or was closed); call start()")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append(_Write(function, args, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            # Shielded: a writer cancelled while waiting must not cancel the group's flush.
            flush = asyncio.ensure_future(self._call(self._flush))
            try:
                await asyncio.shield(flush)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the thread is gone: nobody will flush the queue
                self._flush_scheduled = False
                while self._pending:
                    _settle(self._pending.popleft().future, False, error)
                raise
        return cast(T, await future)

    def _polled(self, queued: float, action: Callable[[], T]) -> T:
        """On the store's thread: ``action()``, tried again every :data:`LOCK_POLL` seconds
        while another process holds the file (SQLite says busy), until ``busy_timeout`` has
        passed since ``queued``; then ``StoreUnavailable``.

        Why not SQLite's own busy handler: it sleeps 1, 2, 5, 10, 15... ms between tries, and
        between two processes each committing a few hundred times a second those sleeps were
        most of the wait (a second consumer process on the file slowed the first one down).
        """
        while True:
            try:
                return action()
            except sqlite3.OperationalError as error:
                if not _busy(error):
                    raise
            if time.monotonic() - queued >= self.busy_timeout:
                raise StoreUnavailable(
                    f"{self!r} is locked: another process held the database file for "
                    f"{self.busy_timeout:g} s; try again later"
                )
            time.sleep(LOCK_POLL)

    def _flush(self) -> None:
        """On the store's thread: apply every queued write in one transaction, then settle
        each write's future. A write that raises is rolled back to its savepoint and gets its
        own exception; its neighbours commit. One commit (one fsync) for the whole group."""
        self._flush_scheduled = False
        while self._pending:
            group = [self._pending.popleft() for _ in range(min(len(self._pending), GROUP_MAX))]
            outcomes: list[tuple[bool, Any]] = []
            try:
                db = self._connection()
                queued = min(write.queued for write in group)
                self._polled(queued, partial(db.execute, "BEGIN IMMEDIATE"))
                try:
                    for write in group:
                        outcomes.append(_in_savepoint(db, write))
                except BaseException:
                    with suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            except BaseException as error:  # the group's transaction failed: each gets it
                failed = error
                with suppress(Exception):
                    failed = _translate(error)
                outcomes = [(False, failed)] * len(group)
            # One wake-up of the event loop for the whole group, not one per write.
            settled = [
                (write.future, ok, value)
                for write, (ok, value) in zip(group, outcomes, strict=True)
            ]
            group[0].future.get_loop().call_soon_threadsafe(_settle_all, settled)


@dataclass
class _Write:
    function: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]
    queued: float = field(default_factory=time.monotonic)


def _milliseconds(seconds: float) -> int:
    return max(1, int(seconds * 1000))


GROUP_MAX = 256
"""Most writes committed in one transaction."""
LOCK_POLL = 0.0002
"""Seconds between two tries for the write lock another process holds."""


def _busy(error: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused because another connection holds a lock (try again later)."""
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _in_savepoint(db: sqlite3.Connection, write: _Write) -> tuple[bool, Any]:
    """Run one queued write in its own savepoint: (True, result) or (False, its error)."""
    db.execute("SAVEPOINT write")
    try:
        result = _translated_call(write.function, db, *write.args)
    except Exception as error:
        db.execute("ROLLBACK TO write")
        db.execute("RELEASE write")
        return False, error
    db.execute("RELEASE write")
    return True, result


def _settle_all(settled: Sequence[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in settled:
        _settle(future, ok, value)


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _translate(error: BaseException) -> BaseException:
    try:
        with _translated():
            raise error
    except BaseException as translated:
        return translated
    return error


def _translated_call(function: Callable[..., T], *args: Any) -> T:
    with _translated():
        return function(*args)


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


@contextmanager
def _snapshot(db: sqlite3.Connection) -> Iterator[None]:
    """The statements inside read one state of the database (a read transaction), unless the
    connection is already inside a transaction (a write's), which is one state already."""
    if db.in_transaction:
        yield
        return
    db.execute("BEGIN")
    try:
        yield
    finally:
        db.execute("COMMIT")


_CONSUMED = (
    "EXISTS (SELECT 1 FROM events WHERE stream = :uuid AND message_id = :id AND kind = :kind) "
    "OR EXISTS (SELECT 1 FROM consumed WHERE kind = :kind AND uuid = :uuid AND message_id = :id)"
)
"""Whether the stream consumed message ``:id``: an event of it, or a no-change record."""


def _load(
    db: sqlite3.Connection, kind: DocumentKind, uuid: str, message_ids: Sequence[str]
) -> StoredDocument | None:
    """The projection and which of ``message_ids`` its stream consumed, as of one state; the
    usual read (one message id) is one statement."""
    asked = list(dict.fromkeys(message_ids))
    if len(asked) > 1:
        with _snapshot(db):
            found = _load(db, kind, uuid, [])
            consumed = _consumed_of(db, kind, uuid, asked)
        return None if found is None else replace(found, message_ids=consumed)
    row = db.execute(
        f"SELECT version, body, {_CONSUMED if asked else '0'} FROM {kind} "  # noqa: S608
        "WHERE uuid = :uuid",
        {"uuid": uuid, "kind": kind, "id": asked[0] if asked else None},
    ).fetchone()
    if row is None:
        return None
    consumed = frozenset(asked) if row[2] else frozenset()
    return StoredDocument(uuid, int(row[0]), json.loads(row[1]), consumed)


def _consumed_of(
    db: sqlite3.Connection, kind: str, uuid: str, message_ids: Sequence[str]
) -> frozenset[str]:
    """Which of ``message_ids`` the stream consumed: an event of theirs, or a no-change record."""
    found: set[str] = set()
    for message_id in dict.fromkeys(message_ids):
        row = db.execute(
            f"SELECT {_CONSUMED}",
            {"uuid": uuid, "kind": kind, "id": message_id},
        ).fetchone()
        if row[0]:
            found.add(message_id)
    return frozenset(found)


def _event_record(row: Sequence[Any]) -> EventRecord:
    position, kind, stream, version, body, message_id, sender, state, pipeline = row
    return EventRecord(
        position=int(position),
        kind=_documents.check_kind(kind),
        stream=str(stream),
        version=int(version),
        event=json.loads(body),
        message_id=message_id,
        sender=sender,
        state=state,
        pipeline_uuid=pipeline,
    )


def _fetch_body(db: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> JSON | None:
    row = db.execute(sql, params).fetchone()
    if row is None:
        return None
    body: JSON = json.loads(row[0])
    return body


@dataclass(frozen=True)
class _PreparedAppend:
    """An append of a unit, checked and serialized on the caller's thread."""

    append: AppendEvent
    event: JSON
    event_text: str


_Prepared = _PreparedAppend | RecordConsumed | SettleExecution


def _prepared(write: UnitWrite) -> _Prepared:
    """``write`` checked as its single-write method checks it; an append also serialized."""
    if isinstance(write, AppendEvent):
        _documents.check_kind(write.kind)
        _documents.check_changes(write.kind, write.changes)
        event = _documents.check_event(write.kind, write.uuid, write.event)
        what = f"{_documents.noun(write.kind)} {write.uuid}"
        text = _dumps(event, what)
        _dumps(dict(write.changes), what)
        return _PreparedAppend(write, event, text)
    if isinstance(write, RecordConsumed):
        _documents.check_kind(write.kind)
        return write
    _records.check_execution({**write.new, "id": write.execution_id})
    _records.check_execution_update(dict(write.fields), write.log_lines)
    return write


def _record_consumed(
    db: sqlite3.Connection, kind: DocumentKind, uuid: str, message_id: str
) -> bool:
    if _consumed_of(db, kind, uuid, [message_id]):
        return False
    db.execute(
        "INSERT INTO consumed (kind, uuid, message_id) VALUES (?, ?, ?)",
        (kind, uuid, message_id),
    )
    return True


def _settle_execution(db: sqlite3.Connection, settle: SettleExecution) -> None:
    """The stored execution with ``fields`` set, or ``new`` with them when there is none."""
    execution_id = settle.execution_id
    stored = _fetch_body(db, "SELECT body FROM executions WHERE id = ?", (execution_id,))
    inserted = {**settle.new, "id": execution_id}
    body = {**(inserted if stored is None else stored), **settle.fields}
    body.pop("logs", None)
    text = _dumps(body, f"execution {execution_id}")
    if stored is None:
        db.execute("INSERT INTO executions (id, body) VALUES (?, ?)", (execution_id, text))
    else:
        db.execute("UPDATE executions SET body = ? WHERE id = ?", (text, execution_id))
    _append_log(db, execution_id, settle.log_lines)


def _append_log(db: sqlite3.Connection, execution_id: str, lines: Sequence[str]) -> None:
    db.executemany(
        "INSERT INTO execution_logs (execution_id, line) VALUES (?, ?)",
        [(execution_id, line) for line in lines],
    )
