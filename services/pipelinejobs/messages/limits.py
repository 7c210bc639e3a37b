"""Size limits on message bodies, and strict JSON parsing within them.

Every body is checked before any parsing work that could grow with its nesting: the byte size
first, then the bracket depth by a linear scan that skips string contents. Only then does
``json.loads`` run. Parsing is strict where JSON parsers disagree:

- ``NaN``, ``Infinity`` and ``-Infinity`` are refused (they are not JSON);
- a key repeated in one object is refused: parsers differ on which value wins, so a validator
  and a consumer could read different documents;
- invalid UTF-8 is refused; a leading UTF-8 byte order mark is ignored (RFC 8259 allows it).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, fields
from itertools import accumulate
from typing import Any

from pipelinejobs.domain.checks import refused
from pipelinejobs.errors import InvalidInput, MessageTooLarge
from pipelinejobs.messages.problems import json_path


@dataclass(frozen=True)
class Limits:
    """What one message may hold; the defaults suit every documented message with room to spare."""

    max_bytes: int = 1024 * 1024
    max_depth: int = 32
    max_string_length: int = 64 * 1024
    max_items: int = 10_000

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise refused(f"Limits.{field.name}", value, "a positive int")


DEFAULT_LIMITS = Limits()

# A JSON string, its closing quote optional so that an unterminated string costs one linear pass
# and no backtracking; then runs of characters that are not brackets.
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def parse_json(raw: bytes | str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Parse one JSON document within ``limits``; raise ``MessageTooLarge`` or ``InvalidInput``."""
    require_limits(limits)
    if not isinstance(raw, bytes | bytearray | str):
        raise refused("JSON body", raw, "bytes or a str of JSON text")
    text = _text_within_size(bytes(raw) if isinstance(raw, bytearray) else raw, limits)
    if text.count("{") + text.count("[") > limits.max_depth:  # fewer cannot nest deeper
        depth = nesting_depth(text)
        if depth > limits.max_depth:
            raise MessageTooLarge(
                f"message nesting depth is {depth}; the limit is {limits.max_depth} levels"
            )
    try:
        document = _STRICT_JSON.decode(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"message is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from exc
    except InvalidInput:  # NaN, Infinity or a repeated key, refused by the hooks below
        raise
    except RecursionError as exc:  # only reachable with a max_depth above Python's own limit
        raise MessageTooLarge(f"message nesting is too deep to parse: {exc}") from exc
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise InvalidInput(f"message is not acceptable JSON: {exc}") from exc
    check_document(document, limits)
    return document


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting of a JSON text, ignoring brackets inside strings."""
    if not isinstance(text, str):
        raise refused("JSON text", text, "a str")
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(_DEPTH_STEP[char] for char in brackets), default=0)


def check_document(document: Any, limits: Limits = DEFAULT_LIMITS) -> None:
    """Check a decoded document (e.g. from protobuf) against the depth, string and item limits,
    and refuse non-finite numbers, which JSON cannot carry."""
    _check(document, [], 0, require_limits(limits))


def require_limits(limits: object) -> Limits:
    """Return ``limits`` if it is a ``Limits``; refuse anything else (a dict, None...)."""
    if not isinstance(limits, Limits):
        raise refused("limits", limits, "a Limits, such as Limits(max_bytes=65536)")
    return limits


def _check(value: Any, path: list[str | int], depth: int, limits: Limits) -> None:
    if isinstance(value, str):
        if len(value) > limits.max_string_length:
            raise MessageTooLarge(
                f"{json_path(path)}: string of {len(value)} characters; the limit is "
                f"{limits.max_string_length}"
            )
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{json_path(path)}: {value} is not a JSON number; use a finite one")
        return
    if not isinstance(value, dict | list):
        return
    if depth + 1 > limits.max_depth:
        raise MessageTooLarge(
            f"{json_path(path)}: nesting deeper than the limit of {limits.max_depth} levels"
        )
    if len(value) > limits.max_items:
        raise MessageTooLarge(
            f"{json_path(path)}: {len(value)} items; the limit is {limits.max_items} per object "
            "or array"
        )
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        path.append(key)
        if isinstance(key, str):
            _check(key, path, depth, limits)
        _check(item, path, depth + 1, limits)
        path.pop()


def _text_within_size(raw: bytes | str, limits: Limits) -> str:
    if isinstance(raw, str):
        if len(raw) > limits.max_bytes:  # a character is at least one byte: no need to encode
            raise MessageTooLarge(
                f"message body has {len(raw)} characters; the limit is {limits.max_bytes} bytes"
            )
        try:
            raw = raw.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInput(f"message text is not valid Unicode: {exc.reason}") from exc
    if len(raw) > limits.max_bytes:
        raise MessageTooLarge(
            f"message body is {len(raw)} bytes; the limit is {limits.max_bytes} bytes"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"message is not valid UTF-8: {exc.reason} at byte {exc.start}") from exc


def _refuse_constant(name: str) -> Any:
    raise InvalidInput(f"{name} is not a JSON number; use a finite number or null")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        counts = Counter(key for key, _ in pairs)
        repeated = sorted(key for key, count in counts.items() if count > 1)
        raise InvalidInput(
            f"key(s) {', '.join(map(repr, repeated))} appear more than once in one object; "
            "send each key once"
        )
    return document


_STRICT_JSON = json.JSONDecoder(
    parse_constant=_refuse_constant, object_pairs_hook=_object_without_duplicates
)
"""Made once: ``json.loads`` with hooks builds a decoder on every call."""
