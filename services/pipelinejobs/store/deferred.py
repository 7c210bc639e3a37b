"""Deferred writes: the store as one batch of messages sees it, committed once (group commit).

The runtime hands the handlers of a batch this view of the store instead of the store. Decide
first, write after: appends, no-change records and execution records are held here, in order,
while the handlers run, and :meth:`DeferredWrites.commit` writes them in one call
(:meth:`~pipelinejobs.store.port.UnitsOfWork.commit`: one transaction on SQLite). Nothing is
written, and no lock or transaction is held, while a handler awaits anything: a batch never
starves another writer of the same SQLite file, and a slow handler delays only its own batch.

Reads see the held writes: :meth:`get_document` answers with the projection after them and
counts the held messages as consumed, so the second event of a job in a batch is decided on
the state the first one left. Every other operation of the store first commits what is held,
then runs as it would outside a batch; it therefore sees, and keeps the order of, everything
decided before it (a handler reading a job's history, creating a job, indexing files).

The commit re-checks every decision against the store (expected version, consumed ids): if
another process wrote one of the streams meanwhile, the unit fails with ``VersionConflict``
and the runtime applies the batch's messages again, one at a time, on fresh state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pipelinejobs.errors import TransientError
from pipelinejobs.store import _documents
from pipelinejobs.store.port import (
    JSON,
    AppendEvent,
    AppendOutcome,
    AppendResult,
    DocumentKind,
    RecordConsumed,
    SettleExecution,
    Store,
    StoredDocument,
    UnitWrite,
)

_Stream = tuple[DocumentKind, str]


class UnitFailed(TransientError):
    """A commit of a unit whose earlier commit failed."""


class DeferredWrites:
    """The store for the handlers of one batch (typed as a ``Store`` where it is handed on)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._writes: list[UnitWrite] = []
        self._projections: dict[_Stream, StoredDocument] = {}
        """Each stream with held appends: its projection after them."""
        self._consumed: dict[_Stream, set[str]] = {}
        """The message ids the held writes record as consumed, per stream."""
        self._reads: dict[tuple[DocumentKind, str, tuple[str, ...]], StoredDocument | None] = {}
        """The store's answers to this unit's reads, until it commits: the append after a
        handler's read of the same job asks the same question (the commit re-checks them)."""
        self._failed: BaseException | None = None
        """Why a commit failed: every later commit fails with it (see :meth:`commit`)."""

    @property
    def held(self) -> int:
        """How many writes wait for :meth:`commit`."""
        return len(self._writes)

    async def commit(self) -> None:
        """Write everything held, as one unit.

        A failed commit fails every later one too (:class:`UnitFailed`, naming the first
        error): the writes it dropped were decisions of earlier messages of the batch, which
        must not be acked as applied because a later message's operation committed the rest
        (the runtime then applies each message of the batch again on its own). Not a
        ``VersionConflict``: deciding again on this unit cannot succeed.
        """
        if self._failed is not None:
            raise UnitFailed(
                f"an earlier commit of this batch failed ({type(self._failed).__name__}: "
                f"{self._failed}); its messages are applied again one at a time"
            ) from self._failed
        writes, self._writes = self._writes, []
        self._projections.clear()
        self._consumed.clear()
        self._reads.clear()
        if not writes:
            return
        try:
            await self._store.commit(writes)
        except BaseException as error:
            self._failed = error
            raise

    def settle_execution(self, settle: SettleExecution) -> None:
        """Hold the final record of an execution (written with the unit)."""
        self._writes.append(settle)

    async def get_document(
        self, kind: DocumentKind, uuid: str, *, message_ids: Iterable[str] = ()
    ) -> StoredDocument | None:
        asked = list(message_ids)
        key = (kind, uuid, tuple(asked))
        if key in self._reads:
            stored = self._reads[key]
        else:
            stored = await self._store.get_document(kind, uuid, message_ids=asked)
            self._reads[key] = stored
        if stored is None:
            return None
        current = self._projections.get((kind, uuid), stored)
        consumed = self._consumed.get((kind, uuid), set())
        return StoredDocument(
            uuid,
            current.version,
            current.body,
            stored.message_ids | {message_id for message_id in asked if message_id in consumed},
        )

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
        """Held; answered as the store would answer it now (same checks, same errors)."""
        _documents.check_kind(kind)
        _documents.check_changes(kind, changes)
        entry = _documents.check_event(kind, uuid, event)
        stream = (kind, uuid)
        current = _documents.require_document(
            kind, uuid, await self.get_document(kind, uuid, message_ids=[message_id])
        )
        decided = _documents.decide_append(
            kind, current, expected_version=expected_version, message_id=message_id
        )
        if decided is not None:
            return decided
        document = StoredDocument(
            uuid,
            expected_version + 1,
            _documents.appended(current.body, changes),
            frozenset({message_id}),
        )
        self._writes.append(
            AppendEvent(kind, uuid, expected_version, entry, dict(changes), message_id, sender)
        )
        self._projections[stream] = document
        self._consumed.setdefault(stream, set()).add(message_id)
        return AppendResult(AppendOutcome.APPLIED, document)

    async def record_consumed(self, kind: DocumentKind, uuid: str, message_id: str) -> bool:
        """Held; False when the stream consumed the message already (held or stored)."""
        _documents.check_kind(kind)
        stream = (kind, uuid)
        if message_id in self._consumed.get(stream, set()):
            return False
        stored = await self._store.get_document(kind, uuid, message_ids=[message_id])
        if stored is not None and stored.consumed(message_id):
            return False
        self._writes.append(RecordConsumed(kind, uuid, message_id))
        self._consumed.setdefault(stream, set()).add(message_id)
        return True

    def __getattr__(self, name: str) -> Any:
        """Any other operation of the store: first commit what is held, then run it."""
        operation = getattr(self._store, name)
        if not callable(operation):
            return operation

        async def after_commit(*args: Any, **kwargs: Any) -> Any:
            await self.commit()
            return await operation(*args, **kwargs)

        return after_commit
