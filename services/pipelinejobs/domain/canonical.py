"""Canonical JSON: one text per JSON value, so identifiers derived from it are stable.

Keys are sorted, separators are compact and non-ASCII text is kept as UTF-8, matching the
original's ``json.dumps(sort_keys=True, separators=(',', ':'))`` for ASCII input. Anything that
is not plain JSON (NaN, sets, bytes, non-string keys, lone surrogates, cycles) is refused with the
JSON path of the offending value instead of being coerced into a different identity.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from pipelinejobs.errors import InvalidInput

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SURROGATE = re.compile("[\ud800-\udfff]")
_ACCEPTED = "JSON values: null, booleans, finite numbers, strings, lists and string-keyed objects"


def canonical_json(value: Any) -> str:
    """Return the canonical JSON text of ``value``; raise ``InvalidInput`` naming a bad path."""
    try:
        plain = _plain(value, "$", set())
    except RecursionError:
        raise InvalidInput(
            f"value is nested too deeply to serialize; accepted: {_ACCEPTED}"
        ) from None
    return json.dumps(
        plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _plain(value: Any, path: str, ancestors: set[int]) -> Any:
    """Copy ``value`` into plain dicts, lists and scalars, checking every node on the way."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{path}: {value!r} is not a JSON number; accepted: {_ACCEPTED}")
        return value
    if isinstance(value, str):
        _check_text(value, path)
        return value
    if isinstance(value, Mapping | list | tuple):
        if id(value) in ancestors:
            raise InvalidInput(f"{path}: value contains itself; JSON cannot represent cycles")
        ancestors.add(id(value))
        try:
            if isinstance(value, Mapping):
                return _plain_object(value, path, ancestors)
            return [_plain(item, f"{path}[{index}]", ancestors) for index, item in enumerate(value)]
        finally:
            ancestors.discard(id(value))
    raise InvalidInput(
        f"{path}: a value of type {type(value).__name__} is not JSON; accepted: {_ACCEPTED}"
    )


def _plain_object(value: Mapping[Any, Any], path: str, ancestors: set[int]) -> dict[str, Any]:
    copy: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise InvalidInput(
                f"{path}: key {key!r} ({type(key).__name__}) is not a string; "
                "JSON object keys must be strings"
            )
        _check_text(key, path)
        copy[key] = _plain(item, _child_path(path, key), ancestors)
    return copy


def _check_text(text: str, path: str) -> None:
    if _SURROGATE.search(text):
        raise InvalidInput(f"{path}: text contains a lone surrogate; accepted: valid Unicode text")


def _child_path(path: str, key: str) -> str:
    if _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"
