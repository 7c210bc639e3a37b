"""Rules for the plain records (files, catalog, executions), shared by every adapter.

Checking here, before any driver sees the record, makes both backends refuse the same input with
the same message, and keeps the merge rule for file links in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pipelinejobs.domain.executions import ACCEPTED, ExecutionStatus
from pipelinejobs.errors import InvalidInput
from pipelinejobs.store._documents import check_field_name
from pipelinejobs.store.port import JSON


def require_text(record: Mapping[str, Any], field: str, what: str) -> str:
    """The non-empty string ``record[field]``, or ``InvalidInput`` naming it."""
    value = record.get(field)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{what} field {field!r} must be a non-empty string, not {value!r}")
    return value


def text_list(record: Mapping[str, Any], field: str, what: str) -> list[str]:
    """``record[field]`` as a list of strings; a missing field is an empty list."""
    value = record.get(field, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidInput(f"{what} field {field!r} must be a list of strings, not {value!r}")
    return list(value)


def check_record_fields(record: Mapping[str, Any], what: str) -> None:
    """Top-level names every backend can store (MongoDB reserves ``_id`` and dots)."""
    for name in record:
        check_field_name(name, f"{what} field")


def union(existing: Iterable[str], added: Iterable[str]) -> list[str]:
    """``existing`` then the new items of ``added``, each once, order kept."""
    merged = list(dict.fromkeys(existing))
    merged.extend(item for item in dict.fromkeys(added) if item not in merged)
    return merged


# -- files -----------------------------------------------------------------------------------
def check_file(file: Mapping[str, Any]) -> str:
    """Return the file's uuid; ``generated_by`` must be job uuids (strings)."""
    check_record_fields(file, "file")
    uuid = require_text(file, "uuid", "file")
    text_list(file, "generated_by", "file")
    return uuid


def merged_file(stored: Mapping[str, Any] | None, file: Mapping[str, Any]) -> JSON:
    """Scalars from ``file`` win; ``generated_by`` is the union of both."""
    before = dict(stored or {})
    links = union(
        text_list(before, "generated_by", "file"), text_list(file, "generated_by", "file")
    )
    return {**before, **file, "generated_by": links}


# -- catalog ---------------------------------------------------------------------------------
def check_catalog_record(record: Mapping[str, Any]) -> tuple[str, str]:
    """Return ``(uuid, text id)`` of a record with a ``type`` and parent uuids in ``child_of``."""
    check_record_fields(record, "catalog record")
    uuid = require_text(record, "uuid", "catalog record")
    text_id = require_text(record, "id", "catalog record")
    require_text(record, "type", "catalog record")
    text_list(record, "child_of", "catalog record")
    return uuid, text_id


# -- executions ------------------------------------------------------------------------------
def check_execution(execution: Mapping[str, Any]) -> str:
    """Return the execution id; ``logs``, when given, are lines of text."""
    check_record_fields(execution, "execution")
    execution_id = require_text(execution, "id", "execution")
    text_list(execution, "logs", "execution")
    return execution_id


UNACCEPTED: Mapping[str, Any] = {"status": ExecutionStatus.ERROR.value, ACCEPTED: False}
"""The fields of an execution whose message the bus refused (a retry may replace it)."""


def never_accepted(execution: Mapping[str, Any]) -> bool:
    """Whether the stored execution is one a retried message starts afresh."""
    return execution.get("status") == UNACCEPTED["status"] and execution.get(ACCEPTED) is False


def check_execution_update(fields: Mapping[str, Any], log_lines: Iterable[str]) -> None:
    """Fields may not rename the execution or replace its log (lines are only appended)."""
    for name in fields:
        check_field_name(name, "execution field")
        if name in ("id", "logs"):
            raise InvalidInput(
                f"execution field {name!r} cannot be set: the id is fixed, "
                "and log lines are only appended"
            )
    for line in log_lines:
        if not isinstance(line, str):
            raise InvalidInput(f"execution log line {line!r} must be a string")
