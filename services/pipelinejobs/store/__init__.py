"""The store port and its adapters (SQLite embedded, MongoDB distributed)."""

from pipelinejobs.store.port import (
    AppendOutcome,
    AppendResult,
    DocumentKind,
    Store,
    StoredDocument,
)

__all__ = ["AppendOutcome", "AppendResult", "DocumentKind", "Store", "StoredDocument"]
