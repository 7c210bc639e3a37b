"""The distributed store: MongoDB through PyMongo's asyncio API (``AsyncMongoClient``).

Collections ``events``, ``pipelines``, ``jobs``, ``consumed``, ``counters``, ``files``,
``catalog``, ``executions`` and ``nonces``; every ``_id`` is our string uuid or id, never an
ObjectId. Private fields live beside the public body and are stripped on read: ``_version`` on
the projections (pipelines, jobs), ``_text_id`` (a copy of the catalog text ``id``, which carries
the unique index).

The event log, and why no transaction: a transaction needs a replica set, and the store must work
on a standalone server too. So **the event insert is the commit point**:

1. ``append_event`` reads the projection (caught up, see 4) and answers ALREADY_APPLIED (an event
   or a no-change record of that message in the stream), VersionConflict or NotFound without
   writing.
2. It takes a global ``position`` (one ``$inc`` on the ``counters`` document ``events``), then
   inserts the event with ``_id`` ``"<stream>:<version>"``: the primary key makes (stream,
   version) unique on every server, and a unique index makes (stream, message id) unique. A
   duplicate key means another writer took that version: if it was the same message (a racing
   redelivery) the answer is ALREADY_APPLIED, else VersionConflict.
3. It updates the projection with ``$set`` of the changes and ``$inc`` of ``_version``, guarded by
   ``_version: version - 1``: idempotent, so applying an event twice changes nothing.
4. Catch-up: every read of a projection first applies (3) for the stream's events above its
   ``_version``, in version order. A crash after (2) loses nothing (the next read or append
   projects the event) and doubles nothing (the guard); a crash before (2) wrote nothing but a
   position, so the redelivery appends the event once. A creation inserts the version 1 event
   (carrying the whole first projection) before the projection itself, the same way.

Each event also carries its ``changes`` (private), which is what (3) and (4) apply.

Group commit (``commit``: the writes of a batch of messages) is the same protocol in bulk, a
handful of round trips whatever the unit's size:

a. One read per collection for the whole unit: the projections (``_id`` ``$in``), the events
   (each stream's next event by primary key, to find a lagging projection, and the unit's
   message ids on the (stream, message id) index) and the no-change records. Every append is
   then decided as in (1), on those streams with the unit's earlier writes applied. The unit
   stops at the first that would not apply (VersionConflict, NotFound): the writes decided
   before it are written as below, then the unit fails with that error.
b. The unit's positions in one ``$inc`` by their number, handed out in unit order.
c. Each run of consecutive appends: one ordered ``insert_many`` of its events, then per stream
   one update from the version before the run to the version after it (``$set`` of the
   merged changes and of ``_version``, guarded by the version before: idempotent), one
   ``bulk_write`` per projection collection. An ordered insert stops at the first duplicate
   key: the events before it are durable (and projected), the unit stops there with
   VersionConflict and the caller re-runs its messages one at a time, each of those events
   recognized as its message's. Each run of no-change records: one unordered ``insert_many``
   (a duplicate is the same record). Runs are written in unit order, so what is durable is
   always a prefix of the unit: a message is never recorded before a message decided ahead
   of it, and never re-decided after one decided behind it.
d. The execution records: one unordered ``bulk_write`` of upserts.

A crash between any two of these writes is the single append's case: positions taken and not
used are gaps, inserted events are projected by the next read, nothing later was written.

Ordering: positions are unique and, within a stream, increase with versions (an event's
position is taken after its previous event was committed, or, in a unit, after its stream was
read and in unit order). Across streams they are allocation order, not commit order: an event
may become visible shortly after one with a higher position (the time between taking a
position and the insert that uses it). A feed reader that must not miss such an event re-reads
a short window behind its cursor; SQLite has no such window (its positions are commit order).

Other atomic writes are one conditional single-document write each:

- Nonce redemption reads for a precise refusal, then one ``find_one_and_update`` conditioned on
  the remaining uses (``-1``: count the use; else ``{$gt: 0}``: count it and take one off); a
  refund is the inverse, conditioned on a counted use (``current_uses`` ``{$gt: 0}``).
- ``submit_execution`` inserts, and on a duplicate id replaces only with the filter
  ``{_id, status: ERROR, accepted: false}``: a never-accepted execution starts afresh.
- ``put_catalog_records`` checks every record's text id first, then writes them with one
  ordered ``bulk_write`` of upserting replacements (all or none only on a transaction-capable
  server; a failure part-way leaves the records written so far, parents first, and loading
  again finishes the job).
- Every collection writes with the configured write concern (``write_concern_of``).

The stand-in the contract suite runs on when no server is reachable (nx-27017) was probed and
found to break: ``$push`` of a subdocument; ``$ne`` on an array field in updates; ``find`` by an
array element when that field has a single-field index; ``$addToSet`` on a missing field; any
index on a field named ``id``; a compound index naming ``_id``; an upserting ``replace_one``
without ``_id``; pipeline updates; ``$not``; isolated transactions; change streams. The adapter
does not shape itself around them beyond what is plain MongoDB anyway (explicit ``_id``s, the
unique text-id index on ``_text_id``); tests of operations the stand-in mishandles need a real
server (``PIPELINEJOBS_TEST_MONGODB_URL``) and are skipped on the stand-in.
"""

from __future__ import annotations

import copy
import itertools
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from pymongo import (
    ASCENDING,
    DESCENDING,
    AsyncMongoClient,
    ReplaceOne,
    ReturnDocument,
    UpdateOne,
    WriteConcern,
)
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from pipelinejobs.errors import (
    Conflict,
    InvalidInput,
    NonceRejected,
    NotFound,
    StoreUnavailable,
    VersionConflict,
)
from pipelinejobs.store import _documents, _nonces, _records
from pipelinejobs.store._documents import PRIVATE_FIELDS
from pipelinejobs.store._mongo_errors import translated
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

Raw = dict[str, Any]
_Stream = tuple[DocumentKind, str]
_DUPLICATE_KEY = 11000
_NEWEST_FIRST = [("updated", DESCENDING), ("uuid", ASCENDING)]
_REDEEM_ATTEMPTS = 3

_INDEXES: dict[str, list[tuple[list[tuple[str, int]], bool]]] = {
    "events": [
        ([("position", ASCENDING)], True),
        ([("stream", ASCENDING), ("message_id", ASCENDING)], True),
        ([("stream", ASCENDING), ("version", ASCENDING)], True),
        ([("pipeline_uuid", ASCENDING), ("position", ASCENDING)], False),
        ([("name", ASCENDING), ("position", ASCENDING)], False),
        ([("state", ASCENDING), ("position", ASCENDING)], False),
    ],
    "pipelines": [(_NEWEST_FIRST, False)],
    "jobs": [
        (_NEWEST_FIRST, False),
        ([("state", ASCENDING), *_NEWEST_FIRST], False),
        ([("pipeline_uuid", ASCENDING), *_NEWEST_FIRST], False),
    ],
    "files": [
        ([("generated_by", ASCENDING), ("name", ASCENDING), ("uuid", ASCENDING)], False),
        ([("name", ASCENDING), ("uuid", ASCENDING)], False),
    ],
    "catalog": [
        ([("_text_id", ASCENDING)], True),
        ([("child_of", ASCENDING), ("type", ASCENDING)], False),
        ([("type", ASCENDING), ("_text_id", ASCENDING)], False),
    ],
    "executions": [([("actor", ASCENDING), ("submitted", DESCENDING)], False)],
    "nonces": [([("actor", ASCENDING), ("create_time", ASCENDING)], False)],
}
"""Per collection: (keys, unique). Names are left to the server."""


class MongoStore(Store):
    """The :class:`Store` on one MongoDB database."""

    CRASH_POINTS: ClassVar[tuple[str, ...]] = (
        "position-allocated",
        "event-written",
        "projection-written",
    )
    """Where a write of the event log can be interrupted (see ``fault_injector``)."""

    def __init__(
        self,
        url: str,
        database: str = "pipelinejobs",
        *,
        write_concern: str | int = "majority",
        journal: bool = True,
        server_selection_timeout_ms: int = 5000,
    ) -> None:
        self.url = url
        self.database = database
        self.write_concern = write_concern_of(write_concern, journal=journal)
        self.server_selection_timeout_ms = server_selection_timeout_ms
        self._client: AsyncMongoClient[Raw] | None = None
        self.fault_injector: Callable[[str], None] | None = None
        """For crash tests: called with each crash point an event-log write reaches."""

    def __repr__(self) -> str:
        return f"MongoStore(database={self.database!r})"

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        with translated():
            if self._client is None:
                self._client = AsyncMongoClient(
                    self.url, serverSelectionTimeoutMS=self.server_selection_timeout_ms
                )
            for name, indexes in _INDEXES.items():
                for keys, unique in indexes:
                    await self._db()[name].create_index(keys, unique=unique)
            for kind in _documents.DOCUMENT_KINDS:
                await self._upgrade(kind)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with translated():
                await client.close()

    async def ping(self) -> None:
        with translated():
            await self._db().command("ping")

    # -- event log ---------------------------------------------------------------------------
    async def create_document(
        self, kind: DocumentKind, body: JSON, *, message_id: str, sender: str | None = None
    ) -> tuple[StoredDocument, bool]:
        _documents.check_kind(kind)
        uuid = _documents.check_new_document(kind, body)
        projection, events = _documents.split_new(copy.deepcopy(body))
        for event in events:
            _documents.check_event(kind, uuid, event)
        state, pipeline = _documents.stream_facts(kind, uuid, projection)
        with translated():
            existing = await self._caught_up(kind, uuid, [message_id])
            if existing is not None:
                return existing, False
            records = []
            for version, event in enumerate(events, start=1):
                records.append(
                    {
                        "_id": _event_id(uuid, version),
                        "position": await self._next_position(),
                        "kind": kind,
                        "stream": uuid,
                        "version": version,
                        "event": event,
                        "name": event["name"],
                        "message_id": _documents.creation_message_id(message_id, version),
                        "sender": sender,
                        "state": state if version == len(events) else None,
                        "pipeline_uuid": pipeline,
                        "changes": projection if version == 1 else {},
                    }
                )
            self._reached("position-allocated")
            try:
                await self._collection("events").insert_many(records, ordered=True)
            except BulkWriteError as error:
                if not _only_duplicates(error):
                    raise
                existing = await self._caught_up(kind, uuid, [message_id])
                if existing is None:  # the first event of a creation that failed part-way
                    raise VersionConflict(
                        f"{_documents.noun(kind)} {uuid} is being created by another writer"
                    ) from None
                return existing, False
            self._reached("event-written")
            await self._project(kind, uuid, records)
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
        entry = copy.deepcopy(_documents.check_event(kind, uuid, event))
        with translated():
            stored = _documents.require_document(
                kind, uuid, await self._caught_up(kind, uuid, [message_id])
            )
            decided = _documents.decide_append(
                kind, stored, expected_version=expected_version, message_id=message_id
            )
            if decided is not None:
                return decided
            body = _documents.appended(stored.body, copy.deepcopy(dict(changes)))
            version = expected_version + 1
            record = _event_document(
                kind, uuid, version, entry, changes, body, message_id=message_id, sender=sender
            )
            record["position"] = await self._next_position()
            self._reached("position-allocated")
            try:
                await self._collection("events").insert_one(record)
            except DuplicateKeyError:
                # Another writer took this version (or the same message raced us): decide again.
                latest = _documents.require_document(
                    kind, uuid, await self._caught_up(kind, uuid, [message_id])
                )
                decided = _documents.decide_append(
                    kind, latest, expected_version=expected_version, message_id=message_id
                )
                if decided is not None:
                    return decided
                raise VersionConflict(
                    f"{_documents.noun(kind)} {uuid} changed while the event was being "
                    "appended: reload it and decide again"
                ) from None
            self._reached("event-written")
            await self._project(kind, uuid, [record])
            self._reached("projection-written")
        document = StoredDocument(uuid, version, body, frozenset({message_id}))
        return AppendResult(AppendOutcome.APPLIED, document)

    async def record_consumed(self, kind: DocumentKind, uuid: str, message_id: str) -> bool:
        _documents.check_kind(kind)
        with translated():
            if await self._consumed_of(kind, uuid, [message_id]):
                return False
            try:
                await self._collection("consumed").insert_one(
                    _consumed_mark(kind, uuid, message_id)
                )
            except DuplicateKeyError:
                return False
        return True

    async def commit(self, writes: Sequence[UnitWrite]) -> None:
        """The unit in a few bulk operations, whatever its size (see the module docstring).

        Every write is checked before anything is written (``InvalidInput``), and the appends
        are decided on the unit's streams as read once, up to the first that would not apply
        (a stale decision, ``VersionConflict``; a missing document, ``NotFound``). Then, in
        unit order, each run of appends is one ordered ``insert_many`` (the commit points, then
        one version-guarded update per stream) and each run of no-change records one unordered
        ``insert_many``; a duplicate key at an event stops the unit there (``VersionConflict``).
        Either way the writes before the failing one are durable. The execution records come
        last, only for a unit that applied whole, in one unordered bulk write of upserts.
        """
        settles = _checked_unit(writes)
        with translated():
            steps, refusal = _decided_unit(writes, await self._unit_streams(writes))
            appended = [raw for collection, raw in steps if collection == "events"]
            if appended:
                last = await self._take_positions(len(appended))
                for position, raw in enumerate(appended, start=last - len(appended) + 1):
                    raw["position"] = position
                self._reached("position-allocated")
            for collection, run in itertools.groupby(steps, key=operator.itemgetter(0)):
                raws = [raw for _, raw in run]
                if collection == "events":
                    await self._insert_events(raws)
                else:
                    await self._insert_consumed(raws)
            if refusal is not None:
                raise refusal
            if settles:
                await self._collection("executions").bulk_write(
                    [_settled(settle) for settle in settles], ordered=False
                )

    async def _unit_streams(self, writes: Sequence[UnitWrite]) -> dict[_Stream, _StreamView]:
        """Each stream the unit writes, caught up, with which of the unit's message ids it
        consumed: one read per projection collection, one of the events (each stream's next
        event by primary key, and the unit's message ids on the (stream, message id) index)
        and one of the no-change records, whatever the unit's size."""
        asked: dict[_Stream, set[str]] = {}
        for write in writes:
            if not isinstance(write, SettleExecution):
                asked.setdefault((write.kind, write.uuid), set()).add(write.message_id)
        if not asked:
            return {}
        raws: dict[_Stream, Raw] = {}
        for kind in _documents.DOCUMENT_KINDS:
            uuids = [uuid for of_kind, uuid in asked if of_kind == kind]
            if uuids:
                async for raw in self._collection(kind).find({"_id": {"$in": uuids}}):
                    raws[(kind, str(raw["_id"]))] = raw
        following = {
            _event_id(uuid, _version_of(raws.get((kind, uuid))) + 1): (kind, uuid)
            for kind, uuid in asked
        }
        wanted = {
            (kind, uuid, message_id) for (kind, uuid), ids in asked.items() for message_id in ids
        }
        lagging: set[_Stream] = set()
        found: set[tuple[DocumentKind, str, str]] = set()
        query = {
            "$or": [
                {"_id": {"$in": list(following)}},
                {
                    "stream": {"$in": list({uuid for _, uuid in asked})},
                    "message_id": {"$in": list({message_id for *_, message_id in wanted})},
                },
            ]
        }
        fields = {"kind": True, "stream": True, "message_id": True}
        async for raw in self._collection("events").find(query, projection=fields):
            key = (
                _documents.check_kind(str(raw["kind"])),
                str(raw["stream"]),
                str(raw["message_id"]),
            )
            if key in wanted:
                found.add(key)
            if following.get(str(raw["_id"])) == key[:2]:
                lagging.add(following[str(raw["_id"])])
        marks = {_consumed_id(*key): key for key in wanted - found}
        if marks:
            async for raw in self._collection("consumed").find({"_id": {"$in": list(marks)}}):
                found.add(marks[str(raw["_id"])])
        views = {stream: _StreamView(_stored_or_none(raws.get(stream)), set()) for stream in asked}
        for of_kind, uuid, message_id in found:
            views[(of_kind, uuid)].consumed.add(message_id)
        for of_kind, uuid in lagging:  # a crash after an insert: the rare case, caught up alone
            views[(of_kind, uuid)].document = await self._caught_up(of_kind, uuid, [])
        return views

    async def _insert_events(self, records: Sequence[Raw]) -> None:
        """A run of a unit's events in one ordered insert (each event's commit point, in order),
        then projected. A duplicate key at index k (another writer took that version or
        consumed that message meanwhile) leaves the events before k durable: they are projected
        and the unit stops there."""
        try:
            await self._collection("events").insert_many(records, ordered=True)
        except BulkWriteError as error:
            await self._project_run(records[: _first_failed(error)])
            if not _only_duplicates(error):
                raise
            failed = records[_first_failed(error)]
            raise VersionConflict(
                f"{_documents.noun(failed['kind'])} {failed['stream']} changed, or message "
                f"{failed['message_id']!r} was applied to it, while the unit was being "
                "committed: reload it and decide again"
            ) from None
        self._reached("event-written")
        await self._project_run(records)
        self._reached("projection-written")

    async def _project_run(self, records: Sequence[Raw]) -> None:
        """Project committed events: per stream, one update from its version before them to
        its version after them (``$set`` of their merged changes), guarded by the version
        before, so idempotent; one bulk write per projection collection. A stream that a
        reader's catch-up moved meanwhile (the guard did not match) is projected event by
        event, each guarded by its own version."""
        runs: dict[_Stream, list[Raw]] = {}
        for record in records:
            runs.setdefault((record["kind"], record["stream"]), []).append(record)
        for kind in _documents.DOCUMENT_KINDS:
            streams = [(uuid, run) for (of_kind, uuid), run in runs.items() if of_kind == kind]
            if not streams:
                continue
            updates = [_projected(uuid, run) for uuid, run in streams]
            result = await self._collection(kind).bulk_write(updates, ordered=False)
            if result.matched_count < len(updates):
                for uuid, run in streams:
                    await self._project(kind, uuid, run)

    async def _insert_consumed(self, marks: Sequence[Raw]) -> None:
        """A run of a unit's no-change records in one unordered insert; a record already there
        (a racing redelivery) is the same record."""
        try:
            await self._collection("consumed").insert_many(marks, ordered=False)
        except BulkWriteError as error:
            if not _only_duplicates(error):
                raise

    async def get_document(
        self, kind: DocumentKind, uuid: str, *, message_ids: Iterable[str] = ()
    ) -> StoredDocument | None:
        _documents.check_kind(kind)
        with translated():
            return await self._caught_up(kind, uuid, list(message_ids))

    async def find_documents(
        self,
        kind: DocumentKind,
        filters: Mapping[str, str] | None = None,
        *,
        limit: int = 100,
        offset: int = 0,
    ) -> list[StoredDocument]:
        collection = self._collection(_documents.check_kind(kind))
        _documents.check_page(limit, offset)
        query = _documents.check_filters(filters)
        with translated():
            cursor = collection.find(query).sort(_NEWEST_FIRST).skip(offset).limit(limit)
            return [_stored(raw) async for raw in cursor]

    async def count_documents(
        self, kind: DocumentKind, filters: Mapping[str, str] | None = None
    ) -> int:
        collection = self._collection(_documents.check_kind(kind))
        query = _documents.check_filters(filters)
        with translated():
            return await collection.count_documents(query)

    async def read_events(
        self, kind: DocumentKind, uuid: str, *, after: int = 0, limit: int = 100
    ) -> list[EventRecord]:
        _documents.check_kind(kind)
        _documents.check_cursor(after, limit)
        query = {"stream": uuid, "kind": kind, "version": {"$gt": after}}
        with translated():
            cursor = self._collection("events").find(query).sort("version", ASCENDING)
            return [_event_record(raw) async for raw in cursor.limit(limit)]

    async def find_event(
        self, kind: DocumentKind, uuid: str, *, message_id: str
    ) -> EventRecord | None:
        _documents.check_kind(kind)
        query = {"stream": uuid, "message_id": message_id, "kind": kind}
        with translated():
            raw = await self._collection("events").find_one(query)
        return None if raw is None else _event_record(raw)

    async def read_feed(
        self, *, after: int = 0, limit: int = 100, filters: FeedFilter | None = None
    ) -> list[EventRecord]:
        _documents.check_cursor(after, limit)
        chosen = filters or FeedFilter()
        query: Raw = {"position": {"$gt": after}}
        if chosen.job is not None:
            query.update(stream=chosen.job, kind="jobs")
        for name, value in (
            ("pipeline_uuid", chosen.pipeline),
            ("name", chosen.name),
            ("state", chosen.state),
        ):
            if value is not None:
                query[name] = value
        with translated():
            cursor = self._collection("events").find(query).sort("position", ASCENDING)
            return [_event_record(raw) async for raw in cursor.limit(limit)]

    async def _upgrade(self, kind: DocumentKind) -> None:
        """Documents written by release 9a9f763 and before kept their history inside them (and
        their last consumed message ids in ``_messages``): move both to the log. Idempotent
        (events have fixed ids), so a start interrupted part-way finishes on the next one."""
        projections = self._collection(kind)
        async for raw in projections.find({"history": {"$exists": True}}):
            uuid = str(raw["_id"])
            history = list(raw.get("history") or [])
            state, pipeline = _documents.stream_facts(kind, uuid, raw)
            for version, event in enumerate(history, start=1):
                record = {
                    "_id": _event_id(uuid, version),
                    "position": await self._next_position(),
                    "kind": kind,
                    "stream": uuid,
                    "version": version,
                    "event": event,
                    "name": str(event.get("name")),
                    "message_id": _documents.creation_message_id(f"upgraded:{uuid}", version),
                    "sender": None,
                    "state": state if version == len(history) else None,
                    "pipeline_uuid": pipeline,
                    "changes": {},
                }
                with suppress(DuplicateKeyError):
                    await self._collection("events").insert_one(record)
            for message_id in raw.get("_messages", []):
                with suppress(DuplicateKeyError):
                    await self._collection("consumed").insert_one(
                        _consumed_mark(kind, uuid, message_id)
                    )
            await projections.update_one(
                {"_id": uuid},
                {"$unset": {"history": "", "_messages": ""}, "$set": {"_version": len(history)}},
            )

    async def _next_position(self) -> int:
        return await self._take_positions(1)

    async def _take_positions(self, count: int) -> int:
        """Take ``count`` consecutive positions with one ``$inc``; the last of them."""
        counter = await self._collection("counters").find_one_and_update(
            {"_id": "events"},
            {"$inc": {"seq": count}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return int((counter or {})["seq"])

    async def _caught_up(
        self, kind: DocumentKind, uuid: str, message_ids: Sequence[str]
    ) -> StoredDocument | None:
        """The projection after applying any event it lags behind (a crash after an insert)."""
        projections = self._collection(kind)
        raw = await projections.find_one({"_id": uuid})
        known = _version_of(raw)
        # The next event, if any, by its primary key: a lagging projection is the rare case.
        lagging: list[Raw] = []
        while True:
            record = await self._collection("events").find_one(
                {"_id": _event_id(uuid, known + len(lagging) + 1), "kind": kind}
            )
            if record is None:
                break
            lagging.append(record)
        if lagging:
            await self._project(kind, uuid, lagging)
            raw = await projections.find_one({"_id": uuid})
        if raw is None:
            return None
        consumed = await self._consumed_of(kind, uuid, message_ids)
        return _stored(raw, consumed)

    async def _project(self, kind: DocumentKind, uuid: str, records: Sequence[Raw]) -> None:
        """Apply events to the projection, each guarded by its version: idempotent."""
        projections = self._collection(kind)
        for record in records:
            version = int(record["version"])
            if version == 1:
                with suppress(DuplicateKeyError):  # projected already
                    await projections.insert_one(
                        {**copy.deepcopy(record["changes"]), "_id": uuid, "_version": 1}
                    )
                continue
            update: Raw = {"$inc": {"_version": 1}}
            if record["changes"]:
                update["$set"] = record["changes"]
            await projections.update_one({"_id": uuid, "_version": version - 1}, update)

    async def _consumed_of(
        self, kind: DocumentKind, uuid: str, message_ids: Sequence[str]
    ) -> frozenset[str]:
        """Which of ``message_ids`` the stream consumed: an event of theirs, or a no-change
        record."""
        wanted = list(dict.fromkeys(message_ids))
        if not wanted:
            return frozenset()
        found: set[str] = set()
        for message_id in wanted:  # equality on the unique (stream, message_id) index
            event = await self._collection("events").find_one(
                {"stream": uuid, "message_id": message_id},
                projection={"kind": True},
            )
            if event is not None and event["kind"] == kind:
                found.add(message_id)
        marks = [
            _consumed_id(kind, uuid, message_id) for message_id in wanted if message_id not in found
        ]
        if marks:
            async for raw in self._collection("consumed").find({"_id": {"$in": marks}}):
                found.add(str(raw["_id"]).removeprefix(f"{kind}:{uuid}:"))
        return frozenset(found)

    def _reached(self, point: str) -> None:
        if self.fault_injector is not None:
            self.fault_injector(point)

    # -- files -------------------------------------------------------------------------------
    async def upsert_file(self, file: JSON) -> bool:
        uuid = _records.check_file(file)
        links = _records.text_list(file, "generated_by", "file")
        scalars = {name: value for name, value in file.items() if name != "generated_by"}
        update = {"$set": scalars, "$addToSet": {"generated_by": {"$each": links}}}
        files = self._collection("files")
        with translated():
            try:
                result = await files.update_one({"_id": uuid}, update, upsert=True)
            except DuplicateKeyError:  # a concurrent upsert inserted it first: merge into it
                result = await files.update_one({"_id": uuid}, update, upsert=True)
        return result.upserted_id is not None

    async def get_file(self, uuid: str) -> JSON | None:
        with translated():
            raw = await self._collection("files").find_one({"_id": uuid})
        return None if raw is None else _public(raw)

    async def find_files(
        self,
        *,
        generated_by: str | None = None,
        name: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[JSON]:
        _documents.check_page(limit, offset)
        query: Raw = {}
        if generated_by is not None:
            query["generated_by"] = generated_by
        if name is not None:
            query["name"] = name
        order = [("name", ASCENDING), ("uuid", ASCENDING)]
        with translated():
            cursor = self._collection("files").find(query).sort(order).skip(offset).limit(limit)
            return [_public(raw) async for raw in cursor]

    # -- catalog -----------------------------------------------------------------------------
    async def put_catalog_record(self, record: JSON) -> None:
        uuid, text_id = _records.check_catalog_record(record)
        catalog = self._collection("catalog")
        replacement = {**record, "_id": uuid, "_text_id": text_id}
        with translated():
            for _ in range(2):
                try:
                    await catalog.replace_one({"_id": uuid}, replacement, upsert=True)
                    return
                except DuplicateKeyError:
                    holder = await catalog.find_one({"_text_id": text_id})
                    if holder is not None and holder["_id"] != uuid:
                        raise Conflict(
                            f"catalog text id {text_id!r} already names another record than {uuid}"
                        ) from None
            raise Conflict(f"catalog record {uuid} could not be written: duplicate key")

    async def put_catalog_records(self, records: Sequence[JSON]) -> None:
        checked = [(record, *_records.check_catalog_record(record)) for record in records]
        by_text: dict[str, str] = {}
        for _, uuid, text_id in checked:
            if by_text.setdefault(text_id, uuid) != uuid:
                raise Conflict(f"catalog text id {text_id!r} names two records in one load")
        catalog = self._collection("catalog")
        with translated():
            if by_text:
                async for holder in catalog.find({"_text_id": {"$in": list(by_text)}}):
                    if holder["_id"] != by_text[holder["_text_id"]]:
                        raise Conflict(
                            f"catalog text id {holder['_text_id']!r} already names another "
                            f"record than {by_text[holder['_text_id']]}"
                        )
            if checked:
                await catalog.bulk_write(
                    [
                        ReplaceOne(
                            {"_id": uuid}, {**record, "_id": uuid, "_text_id": text_id}, upsert=True
                        )
                        for record, uuid, text_id in checked
                    ],
                    ordered=True,
                )

    async def get_catalog_record(self, key: str) -> JSON | None:
        catalog = self._collection("catalog")
        with translated():
            raw = await catalog.find_one({"_id": key})
            if raw is None:
                raw = await catalog.find_one({"_text_id": key})
        return None if raw is None else _public(raw)

    async def find_catalog_children(self, parent_uuid: str, record_type: str) -> list[JSON]:
        query = {"child_of": parent_uuid, "type": record_type}
        with translated():
            cursor = self._collection("catalog").find(query).sort("_text_id", ASCENDING)
            return [_public(raw) async for raw in cursor]

    async def find_catalog_records(
        self, record_type: str, *, limit: int = 100, offset: int = 0
    ) -> list[JSON]:
        _documents.check_page(limit, offset)
        catalog = self._collection("catalog")
        with translated():
            cursor = (
                catalog.find({"type": record_type})
                .sort("_text_id", ASCENDING)
                .skip(offset)
                .limit(limit)
            )
            return [_public(raw) async for raw in cursor]

    async def count_catalog_records(self, record_type: str) -> int:
        with translated():
            return int(await self._collection("catalog").count_documents({"type": record_type}))

    # -- executions --------------------------------------------------------------------------
    async def save_execution(self, execution: JSON) -> None:
        execution_id = _records.check_execution(execution)
        logs = _records.text_list(execution, "logs", "execution")
        with translated():
            try:
                await self._collection("executions").insert_one(
                    {**execution, "_id": execution_id, "logs": logs}
                )
            except DuplicateKeyError:
                return

    async def submit_execution(self, execution: JSON) -> bool:
        execution_id = _records.check_execution(execution)
        logs = _records.text_list(execution, "logs", "execution")
        document = {**execution, "_id": execution_id, "logs": logs}
        executions = self._collection("executions")
        with translated():
            try:
                await executions.insert_one(document)
                return True
            except DuplicateKeyError:
                pass
            # One conditional replacement: only a never-accepted execution is started afresh.
            replaced = await executions.replace_one(
                {"_id": execution_id, **_records.UNACCEPTED}, document
            )
        return replaced.matched_count == 1

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
        update: Raw = {}
        if changes:
            update["$set"] = changes
        if log_lines:
            update["$push"] = {"logs": {"$each": list(log_lines)}}
        executions = self._collection("executions")
        selector: Raw = {"_id": execution_id}
        if if_status is not None:
            selector["status"] = if_status
        with translated():
            if update:
                matched = (await executions.update_one(selector, update)).matched_count
            else:
                matched = await executions.count_documents(selector)
            if matched:
                return True
            found = await executions.count_documents({"_id": execution_id})
        if not found:
            raise NotFound(f"no execution with id {execution_id}")
        return False

    async def get_execution(self, execution_id: str) -> JSON | None:
        with translated():
            raw = await self._collection("executions").find_one({"_id": execution_id})
        return None if raw is None else _public(raw)

    async def find_executions(
        self,
        actor: str,
        *,
        senders: Sequence[str] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[JSON]:
        _documents.check_page(limit, offset)
        query: Raw = {"actor": actor}
        if senders is not None:
            query["sender"] = {"$in": list(senders)}
        order = [("submitted", DESCENDING), ("_id", ASCENDING)]
        with translated():
            cursor = (
                self._collection("executions").find(query).sort(order).skip(offset).limit(limit)
            )
            found = [_public(raw) async for raw in cursor]
        return [{key: value for key, value in e.items() if key != "logs"} for e in found]

    # -- nonces ------------------------------------------------------------------------------
    async def save_nonce(self, nonce: JSON) -> None:
        nonce_id = _nonces.check_nonce(nonce)
        with translated():
            try:
                await self._collection("nonces").insert_one({**nonce, "_id": nonce_id})
            except DuplicateKeyError:
                raise Conflict(f"nonce {nonce_id} already exists") from None

    async def get_nonce(self, nonce_id: str) -> JSON | None:
        with translated():
            raw = await self._collection("nonces").find_one({"_id": nonce_id})
        return None if raw is None else _public(raw)

    async def list_nonces(self, actor: str) -> list[JSON]:
        order = [("create_time", ASCENDING), ("_id", ASCENDING)]
        with translated():
            cursor = self._collection("nonces").find({"actor": actor}).sort(order)
            return [_public(raw) async for raw in cursor]

    async def delete_nonce(self, actor: str, nonce_id: str) -> bool:
        with translated():
            result = await self._collection("nonces").delete_one({"_id": nonce_id, "actor": actor})
        return result.deleted_count == 1

    async def redeem_nonce(self, nonce_id: str, *, actor: str, level: int, now: str) -> JSON:
        nonces = self._collection("nonces")
        with translated():
            for _ in range(_REDEEM_ATTEMPTS):
                raw = await nonces.find_one({"_id": nonce_id})
                nonce = _nonces.check_redeemable(
                    nonce_id,
                    None if raw is None else _public(raw),
                    actor=actor,
                    level=level,
                    now=now,
                )
                query, update = _redemption(nonce_id, actor, nonce, now)
                used = await nonces.find_one_and_update(
                    query, update, return_document=ReturnDocument.AFTER
                )
                if used is not None:
                    return _public(used)
        raise NonceRejected(f"nonce {nonce_id} kept changing while being redeemed; try again")

    async def refund_nonce(self, nonce_id: str, *, actor: str) -> JSON | None:
        nonces = self._collection("nonces")
        with translated():
            for _ in range(_REDEEM_ATTEMPTS):
                raw = await nonces.find_one({"_id": nonce_id})
                if raw is None or _nonces.refunded_once(_public(raw), actor) is None:
                    return None
                query, update = _refund(nonce_id, actor, raw)
                refunded = await nonces.find_one_and_update(
                    query, update, return_document=ReturnDocument.AFTER
                )
                if refunded is not None:
                    return _public(refunded)
        raise NonceRejected(f"nonce {nonce_id} kept changing while a use was given back")

    # -- plumbing ----------------------------------------------------------------------------
    def _db(self) -> AsyncDatabase[Raw]:
        if self._client is None:
            raise StoreUnavailable(f"{self!r} is not started (or was closed); call start()")
        return self._client.get_database(self.database, write_concern=self.write_concern)

    def _collection(self, name: str) -> AsyncCollection[Raw]:
        return self._db()[name]


def write_concern_of(value: str | int, *, journal: bool) -> WriteConcern:
    """The write concern every collection of the store writes with.

    ``value`` is ``"majority"``, a number of members that must acknowledge (``"1"`` or ``1``;
    a numeric string is a number, not a tag-set name), or the name of a tag set defined in the
    replica set's ``settings.getLastErrorModes``. Unacknowledged writes (``0``) are refused: the
    store learns of duplicates and lost races only from the server's acknowledgement.
    """
    accepted = "accepted: majority, a number of members >= 1, or a tag-set name"
    w: str | int
    if isinstance(value, bool):
        raise InvalidInput(f"MongoDB write concern {value!r} is not valid; {accepted}")
    if isinstance(value, int):
        w = value
    else:
        text = value.strip()
        if not text:
            raise InvalidInput(f"MongoDB write concern is empty; {accepted}")
        w = int(text) if re.fullmatch(r"[+-]?\d+", text) else text
    if isinstance(w, int) and w < 1:
        raise InvalidInput(
            f"MongoDB write concern {w} is not valid: the store needs acknowledged writes to "
            f"notice duplicates and lost races; {accepted}"
        )
    return WriteConcern(w=w, j=journal)


def _redemption(nonce_id: str, actor: str, nonce: Mapping[str, Any], now: str) -> tuple[Raw, Raw]:
    """The one conditional update that uses a nonce once, as Abaco's redemption does."""
    if nonce["remaining_uses"] == _nonces.UNLIMITED:
        query: Raw = {"_id": nonce_id, "actor": actor, "remaining_uses": _nonces.UNLIMITED}
        counts = {"current_uses": 1}
    else:
        query = {"_id": nonce_id, "actor": actor, "remaining_uses": {"$gt": 0}}
        counts = {"current_uses": 1, "remaining_uses": -1}
    return query, {"$inc": counts, "$set": {"last_use_time": now}}


def _refund(nonce_id: str, actor: str, nonce: Mapping[str, Any]) -> tuple[Raw, Raw]:
    """The one conditional update that gives a counted use back (the inverse of
    :func:`_redemption`); its guard keeps the uses counted between 0 and ``max_uses``."""
    query: Raw = {"_id": nonce_id, "actor": actor, "current_uses": {"$gt": 0}}
    if nonce["remaining_uses"] == _nonces.UNLIMITED:
        query["remaining_uses"] = _nonces.UNLIMITED
        counts = {"current_uses": -1}
    else:
        query["remaining_uses"] = {"$gte": 0, "$lt": int(nonce["max_uses"])}
        counts = {"current_uses": -1, "remaining_uses": 1}
    return query, {"$inc": counts}


def _public(raw: Mapping[str, Any]) -> JSON:
    return {name: value for name, value in raw.items() if name not in PRIVATE_FIELDS}


def _stored(raw: Mapping[str, Any], consumed: frozenset[str] = frozenset()) -> StoredDocument:
    return StoredDocument(
        uuid=str(raw["_id"]), version=int(raw["_version"]), body=_public(raw), message_ids=consumed
    )


def _event_id(stream: str, version: int) -> str:
    return f"{stream}:{version}"


def _version_of(raw: Mapping[str, Any] | None) -> int:
    """The version a stored projection is at; 0 for none."""
    return 0 if raw is None else int(raw["_version"])


def _event_document(
    kind: DocumentKind,
    uuid: str,
    version: int,
    event: Mapping[str, Any],
    changes: Mapping[str, Any],
    body: Mapping[str, Any],
    *,
    message_id: str,
    sender: str | None,
) -> Raw:
    """The ``events`` document of an appended event (its ``position`` still to be taken),
    with the feed's facts of ``body``, the projection after it."""
    state, pipeline = _documents.stream_facts(kind, uuid, body)
    return {
        "_id": _event_id(uuid, version),
        "kind": kind,
        "stream": uuid,
        "version": version,
        "event": dict(event),
        "name": event["name"],
        "message_id": message_id,
        "sender": sender,
        "state": state,
        "pipeline_uuid": pipeline,
        "changes": dict(changes),
    }


def _consumed_id(kind: str, uuid: str, message_id: str) -> str:
    return f"{kind}:{uuid}:{message_id}"


def _consumed_mark(kind: DocumentKind, uuid: str, message_id: str) -> Raw:
    """The ``consumed`` document recording that a stream consumed a message that changed
    nothing."""
    return {"_id": _consumed_id(kind, uuid, message_id), "kind": kind, "stream": uuid}


def _event_record(raw: Mapping[str, Any]) -> EventRecord:
    return EventRecord(
        position=int(raw["position"]),
        kind=_documents.check_kind(str(raw["kind"])),
        stream=str(raw["stream"]),
        version=int(raw["version"]),
        event=dict(raw["event"]),
        message_id=raw.get("message_id"),
        sender=raw.get("sender"),
        state=raw.get("state"),
        pipeline_uuid=raw.get("pipeline_uuid"),
    )


def _only_duplicates(error: BulkWriteError) -> bool:
    """Whether a bulk write failed on duplicate keys alone: not on another write error, nor on
    its write concern (a write not known to be durable is no duplicate)."""
    failed = error.details.get("writeErrors", [])
    return (
        bool(failed)
        and not error.details.get("writeConcernErrors")
        and all(item.get("code") == _DUPLICATE_KEY for item in failed)
    )


def _first_failed(error: BulkWriteError) -> int:
    """The index of the write an ordered bulk write stopped at: the writes before it are done."""
    failed = [int(item["index"]) for item in error.details.get("writeErrors", [])]
    return min(failed, default=int(error.details.get("nInserted", 0)))


@dataclass
class _StreamView:
    """A stream as a unit being decided sees it: its projection after the unit's appends so
    far, and which of the unit's message ids it consumed (stored, or earlier in the unit)."""

    document: StoredDocument | None
    consumed: set[str]


def _checked_unit(writes: Sequence[UnitWrite]) -> list[SettleExecution]:
    """Check every write of a unit as its single-write method would, before any is written;
    the unit's execution records."""
    settles: list[SettleExecution] = []
    for write in writes:
        if isinstance(write, SettleExecution):
            _records.check_execution({**write.new, "id": write.execution_id})
            _records.check_execution_update(dict(write.fields), write.log_lines)
            settles.append(write)
            continue
        _documents.check_kind(write.kind)
        if isinstance(write, AppendEvent):
            _documents.check_changes(write.kind, write.changes)
            _documents.check_event(write.kind, write.uuid, write.event)
    return settles


def _decided_unit(
    writes: Sequence[UnitWrite], streams: Mapping[_Stream, _StreamView]
) -> tuple[list[tuple[str, Raw]], NotFound | VersionConflict | None]:
    """The unit's event-log writes in order, each a document for ``events`` or ``consumed``,
    decided as ``append_event`` and ``record_consumed`` decide, on ``streams`` with the unit's
    earlier writes applied (a message the stream consumed already needs no record); up to the
    first append that would not apply, with the error that refuses it."""
    steps: list[tuple[str, Raw]] = []
    for write in writes:
        if isinstance(write, SettleExecution):
            continue
        view = streams[(write.kind, write.uuid)]
        if isinstance(write, RecordConsumed):
            if write.message_id not in view.consumed:
                view.consumed.add(write.message_id)
                steps.append(("consumed", _consumed_mark(write.kind, write.uuid, write.message_id)))
            continue
        try:
            stored = _documents.require_document(write.kind, write.uuid, view.document)
            seen = replace(stored, message_ids=frozenset(view.consumed & {write.message_id}))
            decided = _documents.decide_append(
                write.kind,
                seen,
                expected_version=write.expected_version,
                message_id=write.message_id,
            )
        except (NotFound, VersionConflict) as refusal:
            return steps, refusal
        if decided is not None:
            return steps, VersionConflict(
                f"message {write.message_id!r} was applied to "
                f"{_documents.noun(write.kind)} {write.uuid} meanwhile"
            )
        version = write.expected_version + 1
        body = _documents.appended(stored.body, write.changes)
        steps.append(
            (
                "events",
                _event_document(
                    write.kind,
                    write.uuid,
                    version,
                    write.event,
                    write.changes,
                    body,
                    message_id=write.message_id,
                    sender=write.sender,
                ),
            )
        )
        view.document = StoredDocument(write.uuid, version, body)
        view.consumed.add(write.message_id)
    return steps, None


def _projected(uuid: str, run: Sequence[Raw]) -> UpdateOne:
    """One stream's committed events as one update of its projection: their changes merged in
    order (each sets top-level fields), guarded by the version before the first of them."""
    changes: Raw = {}
    for record in run:
        changes.update(record["changes"])
    return UpdateOne(
        {"_id": uuid, "_version": int(run[0]["version"]) - 1},
        {"$set": {**changes, "_version": int(run[-1]["version"])}},
    )


def _stored_or_none(raw: Mapping[str, Any] | None) -> StoredDocument | None:
    return None if raw is None else _stored(raw)


def _settled(settle: SettleExecution) -> UpdateOne:
    """An upsert: ``fields`` set and the log lines pushed on the stored execution, or on a new
    one made of ``new``."""
    fields = dict(settle.fields)
    fresh = {
        name: value
        for name, value in {**settle.new, "id": settle.execution_id}.items()
        if name not in fields and name not in ("_id", "logs")
    }
    update: Raw = {"$push": {"logs": {"$each": list(settle.log_lines)}}}
    if fields:
        update["$set"] = fields
    if fresh:
        update["$setOnInsert"] = fresh
    return UpdateOne({"_id": settle.execution_id}, update, upsert=True)
