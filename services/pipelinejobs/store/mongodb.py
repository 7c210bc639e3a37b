"""The distributed store: MongoDB through PyMongo's asyncio API (``AsyncMongoClient``).

Collections ``pipelines``, ``jobs``, ``files``, ``catalog``, ``executions`` and ``nonces``; every
``_id`` is our string uuid or id, never an ObjectId. Private fields live beside the public body
and are stripped on read: ``_version`` and ``_messages`` (consumed message ids) on pipelines and
jobs, ``_text_id`` (a copy of the catalog text ``id``, which carries the unique index).

Every write that must be atomic is one conditional single-document write; no transactions:

- ``append_event`` reads the document (which already answers NotFound, ALREADY_APPLIED and
  VersionConflict without writing), then writes once with the filter
  ``{_id, _version: expected, _messages: {$nin: [message_id]}}`` and ``$set`` of the changes,
  the history extended by the event, ``_version: expected + 1`` and the message ids. The version
  guard makes the extended history exactly the stored one; when the write matches nothing, a
  second read tells which of the three answers applies. ``_messages`` keeps the last
  :data:`MESSAGE_WINDOW` ids: one id per event, so only a document with more events than that
  could forget a redelivery, and the document stays far below 16 MiB.
- Nonce redemption reads for a precise refusal, then one ``find_one_and_update`` conditioned on
  the remaining uses (``-1``: count the use; else ``{$gt: 0}``: count it and take one off); a
  refund is the inverse, conditioned on a counted use (``current_uses`` ``{$gt: 0}``).
- ``submit_execution`` inserts, and on a duplicate id replaces only with the filter
  ``{_id, status: ERROR, accepted: false}``: a never-accepted execution starts afresh.
- Every collection writes with the configured write concern (``write_concern_of``).

Why the history is ``$set`` rather than ``$push``ed: the MongoDB stand-in the contract suite runs
on when no server or Docker engine is reachable (nx-27017 0.8.1 with PyMongo 4.20) was probed and
found to:

- work: string ``_id`` and its uniqueness; unique indexes on fields created before the first
  insert; version-conditioned ``update_one`` and ``find_one_and_update`` with ``$set``/``$inc``
  (20 racing appenders: one winner per version; 50 racing redeemers of a 7-use nonce: 7 wins);
  ``$nin`` on an array; ``$or``; equality on an array element (``child_of``, ``generated_by``);
  ``$push``/``$each`` of strings (also on a missing field); ``$addToSet``/``$each`` on an existing
  array or in an upsert; sort (also on two keys, ``_id`` second), skip, limit, counts;
  ``replace_one``/``update_one`` upserts; ``drop_database``; databases isolated by name;
- break: ``$push`` of a subdocument (every element of the array comes back as a JSON string);
  ``$ne`` on an array field in ``update_one``/``find_one`` (matches documents holding the value;
  ``count_documents`` is right); ``find`` by an array element when that field has a single-field
  index (finds nothing; compound indexes leading with it are fine); ``$addToSet`` on a missing
  field (no-op); any index on a field named ``id`` (silently not created, so not unique); a
  compound index naming ``_id`` (inserts fail); an upserting ``replace_one`` whose replacement
  has no ``_id`` (inserts an ObjectId); pipeline updates; ``$not``; plus the known gaps (no
  isolated transactions, silent change streams, ObjectId/UUID/Decimal128 queries, index names
  ignored).

So this adapter uses ``$nin`` not ``$ne``, ``$set`` of whole lists of subdocuments, compound
indexes on array fields, the unique index on ``_text_id`` rather than ``id``, an explicit ``_id``
in replacements, creates ``generated_by`` in the upsert that creates a file, and never relies on
transactions. All of these are plain, efficient MongoDB as well.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReturnDocument, WriteConcern
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

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
    AppendOutcome,
    AppendResult,
    DocumentKind,
    Store,
    StoredDocument,
)

Raw = dict[str, Any]
MESSAGE_WINDOW = 1000
"""How many consumed message ids a pipeline or job keeps (the most recent)."""
_NEWEST_FIRST = [("updated", DESCENDING), ("uuid", ASCENDING)]
_REDEEM_ATTEMPTS = 3

_INDEXES: dict[str, list[tuple[list[tuple[str, int]], bool]]] = {
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

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with translated():
                await client.close()

    async def ping(self) -> None:
        with translated():
            await self._db().command("ping")

    # -- event-sourced documents -------------------------------------------------------------
    async def create_document(
        self, kind: DocumentKind, body: JSON, *, message_id: str
    ) -> tuple[StoredDocument, bool]:
        collection = self._collection(_documents.check_kind(kind))
        uuid = _documents.check_new_document(kind, body)
        stored = copy.deepcopy(body)
        with translated():
            try:
                await collection.insert_one(
                    {**stored, "_id": uuid, "_version": 1, "_messages": [message_id]}
                )
            except DuplicateKeyError:
                existing = await collection.find_one({"_id": uuid})
                if existing is None:
                    raise Conflict(
                        f"{_documents.noun(kind)} {uuid} was refused as a duplicate "
                        "but cannot be read back"
                    ) from None
                return _stored(existing), False
        return StoredDocument(uuid, 1, stored, frozenset({message_id})), True

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
        collection = self._collection(_documents.check_kind(kind))
        _documents.check_changes(kind, changes)
        with translated():
            raw = await collection.find_one({"_id": uuid})
            stored = _documents.require_document(kind, uuid, _stored_or_none(raw))
            decided = _documents.decide_append(
                kind, stored, expected_version=expected_version, message_id=message_id
            )
            if decided is not None:
                return decided
            body = copy.deepcopy(_documents.appended(stored.body, event, changes))
            messages = [*(raw or {}).get("_messages", []), message_id][-MESSAGE_WINDOW:]
            written = await collection.update_one(
                {"_id": uuid, "_version": expected_version, "_messages": {"$nin": [message_id]}},
                {
                    "$set": {
                        **{name: body[name] for name in changes},
                        "history": body["history"],
                        "_version": expected_version + 1,
                        "_messages": messages,
                    }
                },
            )
            if written.matched_count == 1:
                document = StoredDocument(uuid, expected_version + 1, body, frozenset(messages))
                return AppendResult(AppendOutcome.APPLIED, document)
            # Another writer got in between our read and our write: decide from what it wrote.
            latest = _stored_or_none(await collection.find_one({"_id": uuid}))
            decided = _documents.decide_append(
                kind,
                _documents.require_document(kind, uuid, latest),
                expected_version=expected_version,
                message_id=message_id,
            )
        if decided is None:
            raise VersionConflict(
                f"{_documents.noun(kind)} {uuid} changed while the event was being appended: "
                "reload it and decide again"
            )
        return decided

    async def get_document(self, kind: DocumentKind, uuid: str) -> StoredDocument | None:
        collection = self._collection(_documents.check_kind(kind))
        with translated():
            return _stored_or_none(await collection.find_one({"_id": uuid}))

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


def _stored(raw: Mapping[str, Any]) -> StoredDocument:
    return StoredDocument(
        uuid=str(raw["_id"]),
        version=int(raw["_version"]),
        body=_public(raw),
        message_ids=frozenset(raw.get("_messages", ())),
    )


def _stored_or_none(raw: Mapping[str, Any] | None) -> StoredDocument | None:
    return None if raw is None else _stored(raw)
