"""The store ports, one per role, and their adapters (SQLite embedded, MongoDB distributed)."""

from pipelinejobs.store.port import (
    AppendOutcome,
    AppendResult,
    CatalogAndFiles,
    DocumentKind,
    EventLog,
    EventRecord,
    Executions,
    FeedFilter,
    Lifecycle,
    Nonces,
    Store,
    StoredDocument,
)

__all__ = [
    "AppendOutcome",
    "AppendResult",
    "CatalogAndFiles",
    "DocumentKind",
    "EventLog",
    "EventRecord",
    "Executions",
    "FeedFilter",
    "Lifecycle",
    "Nonces",
    "Store",
    "StoredDocument",
]
