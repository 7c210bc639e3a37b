"""The metadata catalog jobs link to: experiment designs, experiments, samples, measurements.

Jobs are linked to catalog records (``derived_from``) and archived under a hash of them, so the
records must exist before a job names them. :func:`load_catalog` loads a small JSON catalog (the
CLI's ``pipelinejobs catalog load FILE``); :func:`find` finds a record from the text id or
typed UUID a user sends (job linkage uses it, naming every id it does not find at once). Record
UUIDs are typed UUIDs of the text id, so loading the same catalog twice writes the same records.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipelinejobs.domain.identifiers import UUIDType, normalize_uuid, require_uuid, typed_uuid
from pipelinejobs.errors import InvalidInput
from pipelinejobs.store.port import JSON, CatalogAndFiles

MAX_CATALOG_ENTRIES = 100_000
_UUID_SHAPE = re.compile(
    r"(?:uri:urn:)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)
_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


@dataclass(frozen=True)
class RecordKind:
    """One level of the catalog hierarchy and how a document names its parent."""

    section: str
    record_type: str
    uuid_type: UUIDType
    parent_field: str | None
    parent_required: bool


KINDS: tuple[RecordKind, ...] = (
    RecordKind("experiment_designs", "experiment_design", UUIDType.EXPERIMENT_DESIGN, None, False),
    RecordKind("experiments", "experiment", UUIDType.EXPERIMENT, "experiment_design", False),
    RecordKind("samples", "sample", UUIDType.SAMPLE, "experiment", True),
    RecordKind("measurements", "measurement", UUIDType.MEASUREMENT, "sample", True),
)
KIND_BY_TYPE: dict[str, RecordKind] = {kind.record_type: kind for kind in KINDS}
_COMPUTED_FIELDS = ("type", "child_of")


def record_kind(record_type: str) -> RecordKind:
    """The catalog level named ``record_type``; ``InvalidInput`` listing the accepted ones."""
    kind = KIND_BY_TYPE.get(record_type)
    if kind is None:
        accepted = ", ".join(KIND_BY_TYPE)
        raise InvalidInput(f"catalog record type {record_type!r} is unknown; accepted: {accepted}")
    return kind


async def find(store: CatalogAndFiles, value: str, record_type: str) -> JSON | None:
    """The record of ``record_type`` named by a text id or a typed UUID of that type, or None
    when the catalog has no such record.

    A typed UUID of another type, or a text id naming a record of another type, is refused:
    linking a job to a sample where a measurement was meant would be silently wrong.
    """
    kind = record_kind(record_type)
    if not isinstance(value, str) or not value:
        raise InvalidInput(
            f"{record_type} reference {value!r} is not accepted; expected a text id such as "
            f"{record_type}.tacc.abcde or a {record_type} UUID (prefix {kind.uuid_type.prefix})"
        )
    key = require_uuid(value, kind.uuid_type) if looks_like_uuid(value) else value
    record = await store.get_catalog_record(key)
    if record is not None and record.get("type") != record_type:
        raise InvalidInput(
            f"{value!r} names a {record.get('type')} in the catalog, not a {record_type}"
        )
    return record


async def load_catalog(store: CatalogAndFiles, document: Any, *, domain: str) -> dict[str, int]:
    """Load every record of a catalog document; returns how many of each section were loaded.

    Validation is all or nothing: the whole document is checked (shape, duplicates, parents
    present in the document or the store) before anything is written, so a refused document
    leaves the catalog unchanged. The records are then written at once
    (``put_catalog_records``: one transaction on SQLite; one ordered bulk write on MongoDB,
    which on a server without transactions may stop part-way, parents first). Loading is
    idempotent (the same document writes the same records), so the remedy is to load it again.
    """
    sections = _sections(document)
    plan = _Plan(store, domain)
    for kind in KINDS:
        for index, entry in enumerate(sections.get(kind.section, [])):
            plan.add(kind, index, entry)
    records = await plan.resolved()
    await store.put_catalog_records(records)
    return {kind.section: len(sections.get(kind.section, [])) for kind in KINDS}


def _sections(document: Any) -> dict[str, list[Any]]:
    accepted = ", ".join(kind.section for kind in KINDS)
    if not isinstance(document, Mapping):
        raise InvalidInput(
            f"catalog document must be a JSON object with lists under {accepted}, "
            f"not a {type(document).__name__}"
        )
    unknown = sorted(str(key) for key in document if key not in {k.section for k in KINDS})
    if unknown:
        raise InvalidInput(
            f"catalog document has unknown section(s) {', '.join(unknown)}; accepted: {accepted}"
        )
    sections: dict[str, list[Any]] = {}
    total = 0
    for kind in KINDS:
        entries = document.get(kind.section, [])
        if not isinstance(entries, list):
            raise InvalidInput(
                f"catalog section {kind.section!r} must be a list of objects, "
                f"not a {type(entries).__name__}"
            )
        total += len(entries)
        sections[kind.section] = entries
    if total > MAX_CATALOG_ENTRIES:
        raise InvalidInput(
            f"catalog document has {total} entries; at most {MAX_CATALOG_ENTRIES} per load "
            "are accepted (split the file)"
        )
    return sections


@dataclass
class _Pending:
    kind: RecordKind
    where: str
    record: JSON
    parents: list[str]


class _Plan:
    """Records checked and named in memory, with parents still to find."""

    def __init__(self, store: CatalogAndFiles, domain: str) -> None:
        self.store = store
        self.domain = domain
        self.pending: list[_Pending] = []
        self.by_key: dict[str, JSON] = {}
        self.problems: list[str] = []

    def add(self, kind: RecordKind, index: int, entry: Any) -> None:
        where = f"{kind.section}[{index}]"
        try:
            pending = self._checked(kind, where, entry)
        except InvalidInput as exc:
            self.problems.append(str(exc))
            return
        record = pending.record
        for key in (record["id"], record["uuid"]):
            if key in self.by_key:
                self.problems.append(f"{where}: {key!r} appears more than once in the document")
                return
        self.by_key[record["id"]] = record
        self.by_key[record["uuid"]] = record
        self.pending.append(pending)

    async def resolved(self) -> list[JSON]:
        """The records with ``child_of`` filled in; ``InvalidInput`` listing every problem."""
        for pending in self.pending:
            await self._check_not_taken(pending)
            child_of = []
            for parent in pending.parents:
                parent_uuid = await self._parent_uuid(pending, parent)
                if parent_uuid is not None and parent_uuid not in child_of:
                    child_of.append(parent_uuid)
            pending.record["child_of"] = child_of
        if self.problems:
            raise InvalidInput("catalog document refused: " + "; ".join(self.problems))
        return [pending.record for pending in self.pending]

    def _checked(self, kind: RecordKind, where: str, entry: Any) -> _Pending:
        if not isinstance(entry, Mapping):
            raise InvalidInput(f"{where}: must be an object with an 'id', not {entry!r}")
        text_id = entry.get("id")
        if not isinstance(text_id, str) or not text_id.strip():
            raise InvalidInput(
                f"{where}: 'id' must be a non-empty text id such as {kind.record_type}.tacc.1234"
            )
        if looks_like_uuid(text_id):
            raise InvalidInput(f"{where}: 'id' {text_id!r} must be a text id, not a UUID")
        title = entry.get("title")
        if title is not None and not isinstance(title, str):
            raise InvalidInput(f"{where} ({text_id}): 'title' must be a string")
        for name in entry:
            if not isinstance(name, str) or _FIELD_NAME.fullmatch(name) is None:
                raise InvalidInput(
                    f"{where} ({text_id}): field name {name!r} is not accepted; expected "
                    "letters, digits and '_', starting with a letter"
                )
        for name in _COMPUTED_FIELDS:
            if name in entry:
                raise InvalidInput(
                    f"{where} ({text_id}): {name!r} is set by the loader; remove it"
                    + (
                        f" and name the parent in {kind.parent_field!r}"
                        if kind.parent_field
                        else ""
                    )
                )
        uuid = self._uuid(kind, where, entry, text_id)
        parents = self._parents(kind, where, entry, text_id)
        record = {
            key: value
            for key, value in entry.items()
            if key not in {"id", "uuid", kind.parent_field}
        }
        record.update({"uuid": uuid, "type": kind.record_type, "id": text_id})
        return _Pending(kind, f"{where} ({text_id})", record, parents)

    def _uuid(self, kind: RecordKind, where: str, entry: Mapping[str, Any], text_id: str) -> str:
        given = entry.get("uuid")
        if given is None:
            return typed_uuid(text_id, kind.uuid_type, domain=self.domain)
        try:
            return require_uuid(given, kind.uuid_type)
        except InvalidInput as exc:
            raise InvalidInput(f"{where} ({text_id}): 'uuid' {exc}") from None

    def _parents(
        self, kind: RecordKind, where: str, entry: Mapping[str, Any], text_id: str
    ) -> list[str]:
        if kind.parent_field is None:
            return []
        value = entry.get(kind.parent_field)
        if value is None:
            if kind.parent_required:
                raise InvalidInput(
                    f"{where} ({text_id}): {kind.parent_field!r} is required (the text id or "
                    f"UUID of its {kind.parent_field})"
                )
            return []
        return references(value, f"{where} ({text_id}): {kind.parent_field!r}")

    async def _check_not_taken(self, pending: _Pending) -> None:
        """A text id already naming another record (e.g. another type) cannot be reused."""
        stored = await self.store.get_catalog_record(pending.record["id"])
        if stored is not None and stored.get("uuid") != pending.record["uuid"]:
            self.problems.append(
                f"{pending.where}: text id already names the {stored.get('type')} "
                f"{stored.get('uuid')} in the catalog"
            )

    async def _parent_uuid(self, pending: _Pending, parent: str) -> str | None:
        parent_type = str(pending.kind.parent_field)
        try:
            key = normalize_uuid(parent) if looks_like_uuid(parent) else parent
            record = self.by_key.get(key) or await find(self.store, parent, parent_type)
        except InvalidInput as exc:
            self.problems.append(f"{pending.where}: {exc}")
            return None
        if record is None:
            self.problems.append(
                f"{pending.where}: {parent_type} {parent!r} is neither in this document "
                "nor in the catalog"
            )
            return None
        if record.get("type") != parent_type:
            self.problems.append(
                f"{pending.where}: {parent!r} names a {record.get('type')}, not a {parent_type}"
            )
            return None
        return str(record["uuid"])


def references(value: Any, field: str) -> list[str]:
    """A reference to catalog records as a list: one text id or typed UUID, or a non-empty
    list of them (a job's linkage parameters and a record's parents both take either)."""
    values = [value] if isinstance(value, str) else value
    if (
        not isinstance(values, list)
        or not values
        or not all(isinstance(item, str) and item for item in values)
    ):
        raise InvalidInput(
            f"{field} must be a text id or typed UUID, or a non-empty list of them, not {value!r}"
        )
    return list(values)


def looks_like_uuid(value: str) -> bool:
    """Whether ``value`` is UUID-shaped (then it must be a typed UUID, never a text id)."""
    return _UUID_SHAPE.fullmatch(value) is not None


def child_type(record_type: str) -> str | None:
    """The catalog level just below ``record_type`` (None for measurements)."""
    types = [kind.record_type for kind in KINDS]
    position = types.index(record_kind(record_type).record_type)
    return types[position + 1] if position + 1 < len(types) else None
