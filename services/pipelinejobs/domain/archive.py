"""Archive paths: where a job's outputs live in its storage system.

``/products/v2/<pipeline uuid without dashes>/<hash of linked metadata>/<hash of data>`` plus an
optional instanced directory ``<adjective>-<animal>-YYYYMMDDTHHmmssZ``. The same job request
always gives the same path; the instanced directory keeps re-runs from overwriting each other.
Every path is checked by ``normalize_archive_path`` so none can escape its storage root.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import petname
from hashids import Hashids

from pipelinejobs.domain.canonical import canonical_json
from pipelinejobs.domain.checks import refused
from pipelinejobs.domain.identifiers import (
    DEFAULT_DOMAIN,
    UUIDType,
    linkage,
    require_uuid,
    typed_uuid,
)
from pipelinejobs.errors import InvalidIdentifier, InvalidInput

ARCHIVE_ROOT = "/products/v2"
HASHIDS_SALT = "xCPJ7PKTdp8BYYb4twh9xNYD"
MAX_SESSION_WORD = 8
MAX_SESSION_LENGTH = 64
MAX_INSTANCED_DIRECTORY_LENGTH = MAX_SESSION_LENGTH + len("-YYYYMMDDTHHmmssZ")

_HASHIDS = Hashids(salt=HASHIDS_SALT)
_ADJECTIVES: tuple[str, ...] = tuple(w for w in petname.adjectives if len(w) <= MAX_SESSION_WORD)
_ANIMALS: tuple[str, ...] = tuple(w for w in petname.names if len(w) <= MAX_SESSION_WORD)
_SESSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EXAMPLE = "107acb4d-1f93-553a-9e1c-b7b58125bc89"


def hashid(uuid_str: str) -> str:
    """The short, path-safe hash of a UUID used as an archive path element."""
    try:
        number = uuid.UUID(uuid_str).int
    except (ValueError, TypeError, AttributeError):
        raise InvalidIdentifier(f"{uuid_str!r} is not a UUID; expected e.g. {_EXAMPLE}") from None
    return str(_HASHIDS.encode(number))


def archive_hash_of_data(data: Mapping[str, Any], *, domain: str = DEFAULT_DOMAIN) -> str:
    """The archive path element for a job's ``data``."""
    if not isinstance(data, Mapping):
        raise InvalidInput(f"data must be a JSON object, got a {type(data).__name__}")
    return hashid(typed_uuid(canonical_json(data), UUIDType.GENERIC, domain=domain))


def archive_hash_of_linkage(linked_uuids: Iterable[str], *, domain: str = DEFAULT_DOMAIN) -> str:
    """The archive path element for a job's linked metadata UUIDs (order does not matter)."""
    joined = ":".join(linkage(linked_uuids))
    return hashid(typed_uuid(joined, UUIDType.GENERIC, domain=domain))


def archive_path(
    pipeline_uuid: str,
    linked_uuids: Iterable[str],
    data: Mapping[str, Any],
    *,
    instanced_directory: str | None = None,
    domain: str = DEFAULT_DOMAIN,
) -> str:
    """The archive path of a job, optionally extended by its instanced directory."""
    pipeline = require_uuid(pipeline_uuid, UUIDType.PIPELINE).replace("-", "")
    elements = [
        ARCHIVE_ROOT,
        pipeline,
        archive_hash_of_linkage(linked_uuids, domain=domain),
        archive_hash_of_data(data, domain=domain),
    ]
    if instanced_directory is not None:
        elements.append(
            _path_segment(
                instanced_directory, "instanced_directory", MAX_INSTANCED_DIRECTORY_LENGTH
            )
        )
    return normalize_archive_path("/".join(elements))


def instanced_directory(session: str, now: datetime) -> str:
    """``<session>-YYYYMMDDTHHmmssZ``: a fresh directory per run of the same job."""
    _path_segment(session, "session", MAX_SESSION_LENGTH)
    if not isinstance(now, datetime):
        raise refused("now", now, "a timezone-aware UTC datetime such as datetime.now(UTC)")
    if now.tzinfo is None or now.utcoffset() != timedelta(0):
        raise InvalidInput(
            f"now {now.isoformat()} is not accepted; expected a timezone-aware UTC datetime "
            "such as datetime.now(UTC)"
        )
    return f"{session}-{now:%Y%m%dT%H%M%S}Z"


def session_name(rng: random.Random) -> str:
    """A memorable ``adjective-animal`` session name, e.g. ``casual-bass``.

    The caller passes the random source (this module draws no randomness of its own).
    """
    if not isinstance(rng, random.Random):
        raise refused(
            "rng", rng, "a random.Random, such as random.Random() or secrets.SystemRandom()"
        )
    return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_ANIMALS)}"


def normalize_archive_path(path: str) -> str:
    """Return ``path`` without a trailing slash if it is a safe absolute POSIX path.

    Refused: relative paths, empty, ``.`` or ``..`` segments, ``//``, backslashes, NUL and
    other control characters. Storage adapters join the result under their root, so a path that
    passes cannot point outside it.
    """
    if not isinstance(path, str):
        raise InvalidInput(f"archive path must be a str, got a {type(path).__name__}")
    problem = _path_problem(path)
    if problem is not None:
        raise InvalidInput(
            f"archive path {path!r} {problem}; expected an absolute POSIX path such as "
            f"{ARCHIVE_ROOT}/<pipeline>/<linkage>/<data>"
        )
    return path if path == "/" else path.rstrip("/")


def _path_problem(path: str) -> str | None:
    if not path.startswith("/"):
        return "is not absolute"
    if "\\" in path:
        return "contains a backslash"
    if _CONTROL.search(path):
        return "contains a control character"
    if "//" in path:
        return "contains an empty segment '//'"
    if any(segment in {".", ".."} for segment in path.split("/")):
        return "contains a '.' or '..' segment"
    return None


def _path_segment(value: str, field: str, max_length: int) -> str:
    if not isinstance(value, str) or len(value) > max_length or _SESSION.fullmatch(value) is None:
        raise InvalidInput(
            f"{field} {value!r} is not accepted; expected 1 to {max_length} letters, "
            "digits, '.', '_' or '-', starting with a letter or digit (e.g. casual-bass)"
        )
    return value


def archive_paths_overlap(first: str, second: str) -> bool:
    """Whether two archive paths on one storage system share files: equal, or one inside the
    other (by whole segments: ``/a/b`` is inside ``/a``, ``/a/bc`` is not inside ``/a/b``).

    A job's archive path belongs to it (issue 13): indexing a path that overlaps another job's
    would relink that job's files, so a create naming such a path is refused.
    """
    return archive_path_contains(first, second) or archive_path_contains(second, first)


def archive_path_contains(outer: str, inner: str) -> bool:
    """Whether ``inner`` is ``outer`` or lies below it (by whole segments)."""
    outer, inner = normalize_archive_path(outer), normalize_archive_path(inner)
    return outer in (inner, "/") or inner.startswith(outer + "/")
