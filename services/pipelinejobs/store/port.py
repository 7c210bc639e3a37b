"""The store ports, one per role, implemented together by each adapter (SQLite, MongoDB).

Design (after eventsourcing's recorders): pipelines and jobs are *event streams* with a
*projection*. Every event is one record, appended once and never changed: stream (the job or
pipeline uuid), version (1, 2, ... within the stream), the event in the documented shape
(``{uuid, name, date, data}``), the message id and sender that caused it, and a global
``position`` in commit order. The document (``StoredDocument.body``: ``uuid``, ``state``,
``last_event``, ``updated``, ...) is the projection of its stream and carries no history: reading
or appending costs the same at the 10th event as at the 100,000th. The history is read from the
log, a page at a time (:meth:`EventLog.read_events`), and the global feed
(:meth:`EventLog.read_feed`) pages through every stream in position order.

Exactly-once effect under at-least-once delivery: an append checks the expected version and the
consumed message ids and writes the event, the projection and the consumed id as one unit (one
transaction in SQLite; in MongoDB the event insert is the commit point, see its module). Events
are unique on (stream, version) and on (stream, message id); a message that changes nothing is
recorded too (:meth:`EventLog.record_consumed`), so a redelivery is recognized for ever.

Conventions every adapter keeps:

- Document ids are our typed UUID strings (never ObjectIds). Timestamps are ISO-8601 UTC strings.
- ``StoredDocument.message_ids`` holds the ids, among those the reader asked about
  (``get_document(..., message_ids=...)``), that this stream has consumed: the consumed set
  of a long stream is never loaded whole.
- Errors are ours (:mod:`pipelinejobs.errors`): ``NotFound``, ``VersionConflict`` (lost race),
  ``Conflict`` (duplicate where a duplicate is not idempotent), ``NonceRejected``,
  ``StoreUnavailable`` for anything the driver says about reachability or timeouts.
- Queries take equality filters on top-level body fields only; results come back newest
  ``updated`` first unless a sort is given.
"""

from __future__ import annotations

import enum
from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

DocumentKind = Literal["pipelines", "jobs"]
"""The event-sourced document collections."""

JSON = dict[str, Any]


@dataclass(frozen=True)
class StoredDocument:
    """A pipeline or job as stored: its projection (no history), version, and which of the
    message ids the reader asked about the stream has consumed."""

    uuid: str
    version: int
    body: JSON
    message_ids: frozenset[str] = field(default_factory=frozenset)

    def consumed(self, message_id: str) -> bool:
        """Whether the message with this id has already been consumed by this stream (the
        id must have been asked about when the document was read)."""
        return message_id in self.message_ids


class AppendOutcome(enum.Enum):
    APPLIED = "applied"
    ALREADY_APPLIED = "already_applied"


@dataclass(frozen=True)
class AppendResult:
    outcome: AppendOutcome
    document: StoredDocument


@dataclass(frozen=True)
class EventRecord:
    """One event of one stream, as the log keeps it."""

    position: int
    kind: DocumentKind
    stream: str
    version: int
    event: JSON
    """The documented history entry: ``{uuid, name, date, data}``."""
    message_id: str | None = None
    sender: str | None = None
    state: str | None = None
    """The stream's ``state`` right after this event."""
    pipeline_uuid: str | None = None
    """The job's pipeline, or the pipeline itself."""

    def public(self) -> JSON:
        """The feed's item: the documented event plus where it sits (never the message id)."""
        return {
            "position": self.position,
            "kind": self.kind[:-1],
            "stream": self.stream,
            "version": self.version,
            **self.event,
            "state": self.state,
            "pipeline_uuid": self.pipeline_uuid,
            "sender": self.sender,
        }


@dataclass(frozen=True)
class FeedFilter:
    """Equality filters of the global feed; None means any."""

    job: str | None = None
    pipeline: str | None = None
    name: str | None = None
    state: str | None = None


@dataclass(frozen=True)
class AppendEvent:
    """A unit's append: what :meth:`EventLog.append_event` takes, to be applied in a unit."""

    kind: DocumentKind
    uuid: str
    expected_version: int
    event: JSON
    changes: Mapping[str, Any]
    message_id: str
    sender: str | None = None


@dataclass(frozen=True)
class RecordConsumed:
    """A unit's no-change record: what :meth:`EventLog.record_consumed` takes."""

    kind: DocumentKind
    uuid: str
    message_id: str


@dataclass(frozen=True)
class SettleExecution:
    """A unit's execution record: ``fields`` set on the stored execution and ``log_lines``
    appended to it; when there is none (a message an actor or a client published straight to
    the bus), ``new`` with ``fields`` is inserted instead."""

    execution_id: str
    fields: Mapping[str, Any]
    new: Mapping[str, Any]
    log_lines: tuple[str, ...] = ()


UnitWrite = AppendEvent | RecordConsumed | SettleExecution
"""One write of a unit of work (see :meth:`UnitsOfWork.commit`)."""


class Lifecycle(Protocol):
    """Connecting, creating (or upgrading) the schema, readiness."""

    @abstractmethod
    async def start(self) -> None:
        """Connect, create collections/tables and (unique) indexes, and upgrade data written by
        an earlier release. Idempotent."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` when the store cannot answer now (readiness)."""


class EventLog(Protocol):
    """Documents and events: the streams of pipelines and jobs, their projections, the feed."""

    @abstractmethod
    async def create_document(
        self, kind: DocumentKind, body: JSON, *, message_id: str, sender: str | None = None
    ) -> tuple[StoredDocument, bool]:
        """Start a stream: ``body`` has ``uuid`` and ``history`` with its first event(s); each
        event becomes a record (versions 1..n) and the rest of ``body`` the projection.

        Returns ``(document, True)`` when created. When a stream with that uuid exists, nothing
        is written and ``(existing, False)`` is returned (its ``message_ids`` tell whether
        ``message_id`` created it): creation is idempotent, and the caller tells "same message
        redelivered" from "someone else created it".
        """

    @abstractmethod
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
        """Append ``event``, set ``changes`` on the projection and record ``message_id``, as one.

        - ``ALREADY_APPLIED`` (and the current document) when ``message_id`` was consumed by
          this stream before; nothing is written.
        - ``VersionConflict`` when the stored version is not ``expected_version``.
        - ``NotFound`` when there is no such document.
        On success the version is ``expected_version + 1``.
        """

    @abstractmethod
    async def record_consumed(self, kind: DocumentKind, uuid: str, message_id: str) -> bool:
        """Record that ``message_id`` was consumed by the stream without changing it (e.g. a
        pipeline update with no change), so its redelivery is recognized. True when new."""

    @abstractmethod
    async def get_document(
        self, kind: DocumentKind, uuid: str, *, message_ids: Iterable[str] = ()
    ) -> StoredDocument | None:
        """The document with this uuid, or None; ``message_ids``: the ids to check as consumed."""

    @abstractmethod
    async def find_documents(
        self,
        kind: DocumentKind,
        filters: Mapping[str, str] | None = None,
        *,
        limit: int = 100,
        offset: int = 0,
    ) -> list[StoredDocument]:
        """Documents whose top-level fields equal ``filters`` (e.g. state, pipeline_uuid),
        newest ``updated`` first, then by uuid."""

    @abstractmethod
    async def count_documents(
        self, kind: DocumentKind, filters: Mapping[str, str] | None = None
    ) -> int:
        """How many documents ``find_documents`` would page through."""

    @abstractmethod
    async def read_events(
        self, kind: DocumentKind, uuid: str, *, after: int = 0, limit: int = 100
    ) -> list[EventRecord]:
        """The stream's events with a version above ``after``, oldest first, at most ``limit``."""

    @abstractmethod
    async def find_event(
        self, kind: DocumentKind, uuid: str, *, message_id: str
    ) -> EventRecord | None:
        """The event that ``message_id`` appended to the stream, if any."""

    @abstractmethod
    async def read_feed(
        self, *, after: int = 0, limit: int = 100, filters: FeedFilter | None = None
    ) -> list[EventRecord]:
        """Events of every stream with a position above ``after``, in position order."""


class CatalogAndFiles(Protocol):
    """Files made by jobs, and the catalog (experiment designs, experiments, samples,
    measurements)."""

    @abstractmethod
    async def upsert_file(self, file: JSON) -> bool:
        """Insert or merge a file record keyed by ``file['uuid']``.

        Scalar fields are overwritten; the list field ``generated_by`` is a set union, so
        indexing a job twice links each file once. Returns True when the record was new.
        """

    @abstractmethod
    async def get_file(self, uuid: str) -> JSON | None:
        """The file record with this uuid, or None (the indexer checks who generated it)."""

    @abstractmethod
    async def find_files(
        self,
        *,
        generated_by: str | None = None,
        name: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[JSON]:
        """File records, ordered by name: those generated by one job (``generated_by``), and
        the one named exactly ``name`` (its path on the archive system), when given."""

    @abstractmethod
    async def put_catalog_record(self, record: JSON) -> None:
        """Insert or replace a catalog record keyed by ``record['uuid']``. It also has
        ``type`` (experiment_design, experiment, sample, measurement), the text ``id``
        (e.g. ``sample.tacc.abcde``, unique) and ``child_of`` (parent uuids)."""

    @abstractmethod
    async def put_catalog_records(self, records: Sequence[JSON]) -> None:
        """:meth:`put_catalog_record` for each record, all or none (one transaction in SQLite,
        one ordered bulk write in MongoDB, see its module)."""

    @abstractmethod
    async def get_catalog_record(self, key: str) -> JSON | None:
        """The record whose uuid or text id is ``key``."""

    @abstractmethod
    async def find_catalog_children(self, parent_uuid: str, record_type: str) -> list[JSON]:
        """Records of ``record_type`` whose ``child_of`` contains ``parent_uuid``, by text id."""

    @abstractmethod
    async def find_catalog_records(
        self, record_type: str, *, limit: int = 100, offset: int = 0
    ) -> list[JSON]:
        """Records of ``record_type``, by text id."""

    @abstractmethod
    async def count_catalog_records(self, record_type: str) -> int:
        """How many records of ``record_type`` there are."""


class Executions(Protocol):
    """The execution record of every message (status, timestamps, result, log lines)."""

    @abstractmethod
    async def save_execution(self, execution: JSON) -> None:
        """Insert the execution keyed by ``execution['id']``, or do nothing if it exists."""

    @abstractmethod
    async def submit_execution(self, execution: JSON) -> bool:
        """Record the execution of a message about to be published, atomically: insert it; or,
        when the stored execution with that id was never accepted (``status`` ERROR and
        ``accepted`` False: the bus refused the message), replace it whole, log lines included,
        so a retried message starts clean. Any other stored execution (submitted, running,
        finished) is kept as it is. True when ``execution`` was written."""

    @abstractmethod
    async def update_execution(
        self,
        execution_id: str,
        *,
        fields: Mapping[str, Any] | None = None,
        log_lines: Sequence[str] = (),
        if_status: str | None = None,
    ) -> bool:
        """Set ``fields`` (status, timestamps, result) and append ``log_lines`` to ``logs``;
        with ``if_status``, only while the execution still has that status (atomically), so a
        late writer cannot overwrite what an actor recorded meanwhile. Whether it was written;
        ``NotFound`` for an unknown id."""

    @abstractmethod
    async def get_execution(self, execution_id: str) -> JSON | None:
        """The execution with its ``logs`` list, or None."""

    @abstractmethod
    async def find_executions(
        self,
        actor: str,
        *,
        senders: Sequence[str] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[JSON]:
        """Executions of ``actor`` (without their logs), newest ``submitted`` first, then by id;
        only those sent by one of ``senders`` when given."""


class Nonces(Protocol):
    """Nonces with Abaco's semantics (levels, uses, expiry)."""

    @abstractmethod
    async def save_nonce(self, nonce: JSON) -> None:
        """Insert a nonce: ``id``, ``actor``, ``level`` (0..3), ``max_uses`` (-1 unlimited),
        ``remaining_uses``, ``current_uses``, ``expires_at`` (ISO or None), ``owner``,
        ``description``, ``create_time``, ``last_use_time``."""

    @abstractmethod
    async def get_nonce(self, nonce_id: str) -> JSON | None: ...

    @abstractmethod
    async def list_nonces(self, actor: str) -> list[JSON]: ...

    @abstractmethod
    async def delete_nonce(self, actor: str, nonce_id: str) -> bool:
        """Delete; True when it existed for that actor."""

    @abstractmethod
    async def redeem_nonce(self, nonce_id: str, *, actor: str, level: int, now: str) -> JSON:
        """Use the nonce once for ``actor`` at ``level``, atomically, and return it as updated.

        ``NonceRejected`` naming the reason when it does not exist, belongs to another actor,
        its level is below ``level``, it expired before ``now``, or no uses remain. With
        ``max_uses`` N, exactly N concurrent redemptions succeed.
        """

    @abstractmethod
    async def refund_nonce(self, nonce_id: str, *, actor: str) -> JSON | None:
        """Give back one use that :meth:`redeem_nonce` counted, atomically, for a request that
        was then not accepted: one use fewer counted and, unless unlimited, one more remaining.

        Returns the nonce as updated, or None when there is nothing to give back (the nonce was
        deleted, belongs to another actor, or has no counted use). Redemptions and refunds
        racing each other never leave more than ``max_uses`` uses counted; ``NonceRejected``
        when the nonce kept changing under a few attempts (the caller may try again).
        """


class UnitsOfWork(Protocol):
    """Group commit: the writes of many messages applied in one call."""

    @abstractmethod
    async def commit(self, writes: Sequence[UnitWrite]) -> None:
        """Apply ``writes`` in order, each with the checks of its single-write method, as one
        unit: every append must apply (``VersionConflict`` when its expected version no
        longer holds or its message was consumed meanwhile: the unit's decisions were made on
        stale state). The caller made each decision on state read before, so it re-runs the
        unit's messages one at a time after any error.

        On SQLite the unit is one transaction: all or nothing. On MongoDB the events and
        no-change records are written in order, each event insert its own commit point, and
        the unit stops at the first that does not apply: the ones before it are durable (their
        messages are recognized as consumed when re-run), and the execution records are
        written only when the whole unit applied.
        """


class Store(Lifecycle, EventLog, CatalogAndFiles, Executions, Nonces, UnitsOfWork, Protocol):
    """Every role at once: what the system wires. Code that needs one role takes that role."""
