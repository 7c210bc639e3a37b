"""The store port: what the actors, gateway and runtime need from persistence.

Design (after eventsourcing's recorders): pipelines and jobs are *event-sourced documents*: a
JSON body with an embedded ``history`` list and an integer ``version``. The one write that
changes them, :meth:`Store.append_event`, is atomic: it checks the expected version, appends the
event, applies the field changes and records the consumed ``message_id`` in the same write (one
conditional single-document update in MongoDB, one transaction in SQLite). That is what gives
exactly-once effect under at-least-once delivery without a dual write.

Conventions every adapter keeps:

- Document ids are our typed UUID strings (never ObjectIds). Timestamps are ISO-8601 UTC strings.
- ``StoredDocument.body`` is the public document: ``uuid``, the fields, ``history``. The consumed
  message ids are kept beside it (``StoredDocument.message_ids``), never inside ``body``.
- A history event is stored as given (``{uuid, name, date, data}``); adapters add nothing to it.
- Errors are ours (:mod:`pipelinejobs.errors`): ``NotFound``, ``VersionConflict`` (lost race),
  ``Conflict`` (duplicate where a duplicate is not idempotent), ``NonceRejected``,
  ``StoreUnavailable`` for anything the driver says about reachability or timeouts.
- Queries take equality filters on top-level body fields only; results come back newest
  ``updated`` first unless a sort is given.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

DocumentKind = Literal["pipelines", "jobs"]
"""The event-sourced document collections."""

JSON = dict[str, Any]


@dataclass(frozen=True)
class StoredDocument:
    """A pipeline or job as stored: its public body, version and consumed message ids."""

    uuid: str
    version: int
    body: JSON
    message_ids: frozenset[str] = field(default_factory=frozenset)

    def consumed(self, message_id: str) -> bool:
        """Whether the message with this id has already changed this document."""
        return message_id in self.message_ids


class AppendOutcome(enum.Enum):
    APPLIED = "applied"
    ALREADY_APPLIED = "already_applied"


@dataclass(frozen=True)
class AppendResult:
    outcome: AppendOutcome
    document: StoredDocument


class Store(ABC):
    """Async persistence for documents, files, catalog records, executions and nonces."""

    # -- lifecycle ---------------------------------------------------------------------------
    @abstractmethod
    async def start(self) -> None:
        """Connect and create collections/tables and (unique) indexes. Idempotent."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` when the store cannot answer now (readiness)."""

    # -- event-sourced documents (pipelines, jobs) -----------------------------------------
    @abstractmethod
    async def create_document(
        self, kind: DocumentKind, body: JSON, *, message_id: str
    ) -> tuple[StoredDocument, bool]:
        """Insert ``body`` (which has ``uuid`` and ``history`` with its first event) at version 1.

        Returns ``(document, True)`` when inserted. When a document with that uuid exists,
        nothing is written and ``(existing, False)`` is returned: creation is idempotent, and the
        caller tells "same message redelivered" (``existing.consumed(message_id)``) from
        "someone else created it".
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
    ) -> AppendResult:
        """Append ``event`` to ``history``, set ``changes`` and record ``message_id``, atomically.

        - ``ALREADY_APPLIED`` (and the current document) when ``message_id`` was consumed before;
          nothing is written.
        - ``VersionConflict`` when the stored version is not ``expected_version``.
        - ``NotFound`` when there is no such document.
        On success the version is ``expected_version + 1``.
        """

    @abstractmethod
    async def get_document(self, kind: DocumentKind, uuid: str) -> StoredDocument | None:
        """The document with this uuid, or None."""

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

    # -- files ---------------------------------------------------------------------------
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

    # -- catalog: experiment designs, experiments, samples, measurements ----------------------
    @abstractmethod
    async def put_catalog_record(self, record: JSON) -> None:
        """Insert or replace a catalog record keyed by ``record['uuid']``. It also has
        ``type`` (experiment_design, experiment, sample, measurement), the text ``id``
        (e.g. ``sample.tacc.abcde``, unique) and ``child_of`` (parent uuids)."""

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

    # -- executions ------------------------------------------------------------------------
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

    # -- nonces (Abaco semantics) ------------------------------------------------------------
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
