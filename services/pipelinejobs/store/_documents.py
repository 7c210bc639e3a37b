"""Rules every adapter applies to event-sourced documents, so both backends answer alike.

The adapters differ in how they write; what a valid document, change set, filter or page is,
and how an append is decided from the stored document, lives here once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from pipelinejobs.errors import InvalidInput, NotFound, VersionConflict
from pipelinejobs.store.port import JSON, AppendOutcome, AppendResult, DocumentKind, StoredDocument

DOCUMENT_KINDS: tuple[DocumentKind, ...] = ("pipelines", "jobs")
MAX_PAGE = 10_000
"""Largest ``limit`` a query accepts: a bigger page is a mistake, not a request."""

PRIVATE_FIELDS = frozenset({"_id", "_version", "_messages", "_text_id"})
"""Names an adapter may keep beside the body (MongoDB does); never public fields."""

_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED_CHANGES = frozenset({"uuid", "history"})


def noun(kind: DocumentKind) -> str:
    """``"jobs"`` -> ``"job"``, for error messages."""
    return kind[:-1]


def check_kind(kind: str) -> DocumentKind:
    """Refuse anything but the two event-sourced collections (also guards table names)."""
    for known in DOCUMENT_KINDS:
        if kind == known:
            return known
    raise InvalidInput(f"document kind {kind!r} is unknown; accepted: pipelines, jobs")


def check_field_name(name: object, what: str) -> str:
    """A top-level field name: letters, digits and underscores, none of the store's own."""
    if not isinstance(name, str) or not _is_field_name(name):
        raise InvalidInput(
            f"{what} {name!r} is not a field name; accepted: letters, digits and underscores, "
            f"not starting with a digit, except the store's own {', '.join(sorted(PRIVATE_FIELDS))}"
        )
    return name


@functools.lru_cache(maxsize=4096)
def _is_field_name(name: str) -> bool:
    """Cached: the same few names are checked on every write."""
    return _FIELD.fullmatch(name) is not None and name not in PRIVATE_FIELDS


def check_new_document(kind: DocumentKind, body: Mapping[str, Any]) -> str:
    """Return the uuid of a body fit to be created; refuse what an adapter could not store."""
    uuid = body.get("uuid")
    if not isinstance(uuid, str) or not uuid:
        raise InvalidInput(f"{noun(kind)} body field 'uuid' must be a non-empty string")
    history = body.get("history")
    if not isinstance(history, list) or not history:
        raise InvalidInput(
            f"{noun(kind)} {uuid}: body field 'history' must be a list holding the first event"
        )
    for name in body:
        check_field_name(name, f"{noun(kind)} body field")
    return uuid


def check_changes(kind: DocumentKind, changes: Mapping[str, Any]) -> None:
    """Changes set top-level fields; ``uuid`` and ``history`` belong to the store's own write."""
    for name in changes:
        check_field_name(name, f"{noun(kind)} change")
        if name in _RESERVED_CHANGES:
            raise InvalidInput(
                f"{noun(kind)} change {name!r} is not allowed: the uuid never changes and "
                "history grows only by the appended event"
            )


def check_filters(filters: Mapping[str, str] | None) -> dict[str, str]:
    """Equality filters on top-level fields with string values."""
    checked: dict[str, str] = {}
    for name, value in (filters or {}).items():
        check_field_name(name, "filter field")
        if not isinstance(value, str):
            raise InvalidInput(f"filter {name!r}: value {value!r} must be a string")
        checked[name] = value
    return checked


def check_page(limit: int, offset: int) -> None:
    """A page is 1..MAX_PAGE items from a non-negative offset (MongoDB reads limit 0 as 'all')."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit {limit} is out of range; accepted: 1 to {MAX_PAGE}")
    if offset < 0:
        raise InvalidInput(f"offset {offset} is negative; accepted: 0 or more")


def appended(body: Mapping[str, Any], changes: Mapping[str, Any]) -> JSON:
    """The projection after an event: its changes set."""
    return {**body, **changes}


def split_new(body: Mapping[str, Any]) -> tuple[JSON, list[JSON]]:
    """A new document's projection (the body without ``history``) and its first events."""
    projection = {name: value for name, value in body.items() if name != "history"}
    return projection, [dict(event) for event in body["history"]]


def creation_message_id(message_id: str, version: int) -> str:
    """The message id recorded with event ``version`` of a stream created with several events:
    the creating message's own for the first, ``<id>#<version>`` for the others, so every event
    has one and (stream, message id) stays unique."""
    return message_id if version == 1 else f"{message_id}#{version}"


def check_event(kind: DocumentKind, uuid: str, event: Any) -> JSON:
    """An event to append: a JSON object with a string ``name`` (the feed filters on it)."""
    if not isinstance(event, Mapping) or not isinstance(event.get("name"), str):
        raise InvalidInput(
            f"{noun(kind)} {uuid}: an event must be an object with a string 'name', not {event!r}"
        )
    return dict(event)


def stream_facts(kind: DocumentKind, uuid: str, body: Mapping[str, Any]) -> tuple[Any, Any]:
    """What the feed filters an event on: the stream's state after it, and its pipeline."""
    pipeline = uuid if kind == "pipelines" else body.get("pipeline_uuid")
    state = body.get("state")
    return (state if isinstance(state, str) else None), (
        pipeline if isinstance(pipeline, str) else None
    )


def check_cursor(after: int, limit: int) -> None:
    """A page of the log: 1..MAX_PAGE events after a non-negative version or position."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit {limit} is out of range; accepted: 1 to {MAX_PAGE}")
    if after < 0:
        raise InvalidInput(f"after {after} is negative; accepted: 0 or more")


def require_document(
    kind: DocumentKind, uuid: str, stored: StoredDocument | None
) -> StoredDocument:
    """The stored document, or ``NotFound`` naming it."""
    if stored is None:
        raise NotFound(f"no {noun(kind)} with uuid {uuid}")
    return stored


def decide_append(
    kind: DocumentKind, stored: StoredDocument, *, expected_version: int, message_id: str
) -> AppendResult | None:
    """What an append must answer before writing: None means "go ahead and write".

    A consumed message wins over a version mismatch: a redelivery carries the version its first
    delivery saw, and must be recognized, not retried.
    """
    if stored.consumed(message_id):
        return AppendResult(AppendOutcome.ALREADY_APPLIED, stored)
    if stored.version != expected_version:
        raise VersionConflict(
            f"{noun(kind)} {stored.uuid} is at version {stored.version}, not the expected "
            f"{expected_version}: reload it and decide again"
        )
    return None
