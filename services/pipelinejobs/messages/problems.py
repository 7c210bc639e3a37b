"""Readable, deterministic problem lines from JSON Schema validation errors.

Each line starts with the JSON path of the offending value (``$.components[0].id``), says what is
wrong and, where the schema knows it, what would be accepted. A sender fixes a message from the
lines alone, without reading the schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]

from pipelinejobs.domain.checks import refused

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_VALUE_CHARS = 60
_MAX_LINE_CHARS = 1000
_BOUNDS = {"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"}


def json_path(parts: Iterable[str | int]) -> str:
    """``$.a.b[0]['odd key']`` for the path parts ``a, b, 0, odd key``."""
    if isinstance(parts, str | bytes) or not isinstance(parts, Iterable):
        raise refused("JSON path parts", parts, "a list of str keys and int indexes")
    text = "$"
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        elif not isinstance(part, str):
            raise refused("JSON path part", part, "a str key or an int index")
        elif _IDENTIFIER.match(part):
            text += f".{part}"
        else:
            text += "[" + repr(part) + "]"
    return text


def problems_of(errors: Iterable[Any]) -> list[str]:
    """One line per problem, sorted and free of duplicates (``errors``: jsonschema errors)."""
    errors = list(errors) if isinstance(errors, Iterable) else [errors]
    for error in errors:
        if not isinstance(error, ValidationError):
            raise refused("error", error, "a jsonschema ValidationError (from iter_errors)")
    lines = {_clip(line) for error in errors for line in _describe(error)}
    return sorted(lines)


def _describe(error: Any, base: Sequence[str | int] | None = None) -> list[str]:
    """Problem lines of one error; paths are relative to ``base`` inside an alternative."""
    path = list(error.absolute_path)
    validator = error.validator
    if validator == "required":
        return [
            _at([*path, name], base) + f"{name!r} is a required property"
            for name in _missing(error)
        ]
    if validator == "additionalProperties" and error.validator_value is False:
        return _unexpected(error, path, base)
    if validator in ("anyOf", "oneOf") and error.context:
        return [
            _at(path, base) + f"{_short(error.instance)} matches none of the accepted forms "
            f"({_alternatives(error, path)})"
        ]
    if validator == "type":
        return [
            _at(path, base) + f"{_short(error.instance)} is not of type "
            f"{_listing(error.validator_value)}"
        ]
    if validator in _BOUNDS:
        return [_at(path, base) + f"{error.message} ({validator} {error.validator_value})"]
    return [_at(path, base) + error.message]


def _at(path: Sequence[str | int], base: Sequence[str | int] | None) -> str:
    if base is None:
        return json_path(path) + ": "
    relative = path[len(base) :]
    return json_path(relative).removeprefix("$") + ": " if relative else ""


def _missing(error: Any) -> list[str]:
    """The property a ``required`` error is about (jsonschema reports one per missing name)."""
    instance = error.instance if isinstance(error.instance, dict) else {}
    names = [name for name in error.validator_value if name not in instance]
    named = [name for name in names if error.message.startswith(repr(name))]
    return named[:1] or names


def _unexpected(
    error: Any, path: Sequence[str | int], base: Sequence[str | int] | None
) -> list[str]:
    schema = error.schema if isinstance(error.schema, dict) else {}
    accepted = sorted(schema.get("properties", {}))
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    extras = sorted(
        key
        for key in error.instance
        if key not in accepted and not any(p.search(key) for p in patterns)
    )
    listing = ", ".join(accepted) or "none"
    return [
        _at([*path, key], base) + f"property {key!r} is not allowed; accepted: {listing}"
        for key in extras
    ]


def _alternatives(error: Any, path: Sequence[str | int]) -> str:
    """Each alternative form with its own problems; forms that are merely the wrong type are
    dropped when another form came closer (that is rarely the one the sender meant)."""
    by_form: dict[int, list[Any]] = {}
    for sub in error.context:
        by_form.setdefault(sub.relative_schema_path[0], []).append(sub)
    depth = len(path)
    close = {
        form: subs
        for form, subs in by_form.items()
        if not all(_wrong_type(sub, depth) for sub in subs)
    }
    chosen = close or by_form
    parts = []
    for form in sorted(chosen):
        lines = sorted({line for sub in chosen[form] for line in _describe(sub, path)})
        label = _label(error.validator_value[form], form)
        parts.append(f"{label}: " + ", ".join(lines))
    return "; ".join(parts)


def _wrong_type(error: Any, depth: int) -> bool:
    """The value itself has the wrong type for this form (directly or in every sub-form)."""
    if len(error.absolute_path) != depth:
        return False
    if error.validator == "type":
        return True
    return error.validator in ("anyOf", "oneOf") and all(
        _wrong_type(sub, depth) for sub in error.context
    )


def _label(schema: Any, form: int) -> str:
    if isinstance(schema, dict):
        reference = schema.get("$ref")
        if isinstance(reference, str):
            return reference.rsplit("/", 1)[-1].removesuffix(".json")
        for key in ("title", "description"):
            if isinstance(schema.get(key), str):
                return str(schema[key])
        if isinstance(schema.get("type"), str):
            return str(schema["type"])
    return f"form {form + 1}"


def _listing(value: Any) -> str:
    if isinstance(value, list):
        return " or ".join(repr(item) for item in value)
    return repr(value)


def _short(instance: Any) -> str:
    text = repr(instance)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."


def _clip(line: str) -> str:
    return line if len(line) <= _MAX_LINE_CHARS else line[: _MAX_LINE_CHARS - 3] + "..."
