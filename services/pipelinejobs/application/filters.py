"""User-supplied regular expressions that select which files of a job get indexed.

Filters come from anyone who may send an ``index`` request, so they are compiled with RE2
(google-re2): matching takes time linear in the file name, with no backtracking, so no pattern
can stall the indexer. RE2 accepts Python's syntax except look-around and back-references.
Limits (module constants): at most :data:`MAX_FILTERS` filters of at most
:data:`MAX_FILTER_LENGTH` characters each, each compiled within :data:`MAX_FILTER_MEMORY` bytes.

As the documentation shows (``sample%5C.uw_biofab%5C.141715``), each filter is URL-decoded
(``urllib.parse.unquote``; ``+`` stays a plus) before compiling. A file is selected when ANY
filter finds a match (``search``) in its base name; no filters select every file.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote

import re2

from pipelinejobs.errors import InvalidInput, MessageTooLarge

if TYPE_CHECKING:
    from re2 import _Regexp

MAX_FILTERS = 100
"""Most filters in one index request (the original warned above this many)."""
MAX_FILTER_LENGTH = 1024
"""Most characters in one filter, after URL-decoding."""
MAX_FILTER_MEMORY = 1 << 20
"""RE2 memory budget per compiled filter, in bytes."""


@dataclass(frozen=True)
class FileFilters:
    """Compiled filters; ``patterns`` are the URL-decoded texts, as recorded in job history."""

    patterns: tuple[str, ...] = ()
    _compiled: tuple[_Regexp[str], ...] = field(default=(), repr=False, compare=False)

    def matches(self, path: str) -> bool:
        """Whether the file at ``path`` is selected: any filter found in its base name."""
        if not self._compiled:
            return True
        name = posixpath.basename(path)
        return any(pattern.search(name) is not None for pattern in self._compiled)

    def select(self, paths: Iterable[str]) -> list[str]:
        """The selected paths, in their given order."""
        return [path for path in paths if self.matches(path)]


def compile_filters(filters: object, *, field: str = "filters") -> FileFilters:
    """Decode and compile a list of filters; ``None`` or ``[]`` selects every file.

    Raises ``InvalidInput`` naming the first filter that is not a string, too long, or not a
    regular expression RE2 accepts (with RE2's reason), and ``MessageTooLarge`` for too many.
    ``field`` is what the errors call the list: the same patterns arrive as an index request's
    ``filters``, a job's ``archive_patterns[i].patterns`` or a launch's ``index_patterns``, and
    are checked by these rules wherever they arrive, so a job never stores one the indexer
    would refuse.
    """
    if filters is None:
        return FileFilters()
    if not isinstance(filters, list | tuple):
        raise InvalidInput(
            f"{field} must be a list of regular expressions (strings), "
            f"got a {type(filters).__name__}"
        )
    if len(filters) > MAX_FILTERS:
        raise MessageTooLarge(
            f"{field} has {len(filters)} entries; at most {MAX_FILTERS} are accepted "
            "(combine patterns with '|')"
        )
    patterns = tuple(_decoded(f"{field}[{index}]", value) for index, value in enumerate(filters))
    compiled = tuple(
        _compiled(f"{field}[{index}]", pattern) for index, pattern in enumerate(patterns)
    )
    return FileFilters(patterns, compiled)


def filters_from_parameter(value: str) -> list[str]:
    """The ``filters`` URL parameter: a JSON array of strings, or else one pattern.

    A value that parses as a JSON array of strings (``["a\\\\.csv", "b"]``) is that list;
    anything else, including a character class like ``[ab]\\.csv``, is a single pattern.
    """
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
            return parsed
    return [value]


def _decoded(where: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput(
            f"{where} must be a string (a regular expression), got a {type(value).__name__}"
        )
    pattern = unquote(value)
    if len(pattern) > MAX_FILTER_LENGTH:
        raise InvalidInput(
            f"{where} has {len(pattern)} characters; at most {MAX_FILTER_LENGTH} are accepted"
        )
    return pattern


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = MAX_FILTER_MEMORY
    return options


def _compiled(where: str, pattern: str) -> _Regexp[str]:
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise InvalidInput(
            f"{where} {pattern[:200]!r} is not an accepted regular expression: "
            f"{reason}; filters use RE2 syntax (Python's, without look-around or "
            "back-references)"
        ) from None
