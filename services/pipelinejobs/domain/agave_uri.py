"""Storage system names and ``agave://<system>/<path>`` URIs.

A storage system name becomes a directory name in the local adapter and part of every file
record, so it is held to a narrow alphabet; the path half of a URI passes the same check as an
archive path, so a URI can never point outside its storage system.
"""

from __future__ import annotations

import re

from pipelinejobs.domain.archive import normalize_archive_path
from pipelinejobs.errors import InvalidInput

AGAVE_SCHEME = "agave://"
MAX_SYSTEM_NAME_LENGTH = 255
_SYSTEM_NAME = re.compile(r"[A-Za-z0-9._-]+")
_EXAMPLE_URI = "agave://data-sd2e-community/products/v2/..."


def require_system_name(system: str) -> str:
    """Return ``system`` if it is a storage system name such as ``data-sd2e-community``."""
    if (
        not isinstance(system, str)
        or len(system) > MAX_SYSTEM_NAME_LENGTH
        or _SYSTEM_NAME.fullmatch(system) is None
        or set(system) == {"."}
    ):
        shown = system if not isinstance(system, str) else system[:80]
        raise InvalidInput(
            f"storage system {shown!r} is not accepted; expected 1 to {MAX_SYSTEM_NAME_LENGTH} "
            "letters, digits, '.', '_' or '-' (not only dots), e.g. data-sd2e-community"
        )
    return system


def parse_agave_uri(uri: str) -> tuple[str, str]:
    """Split ``agave://<system>/<path>`` into ``(system, absolute path)``.

    ``agave://system`` and ``agave://system/`` name the root ``/`` of the system. The path is
    normalized (no trailing slash) and refused if it has ``..``, ``//``, backslashes or control
    characters.
    """
    if not isinstance(uri, str) or not uri.startswith(AGAVE_SCHEME):
        shown = uri[:80] if isinstance(uri, str) else uri
        raise InvalidInput(f"URI {shown!r} is not accepted; expected {_EXAMPLE_URI}")
    rest = uri[len(AGAVE_SCHEME) :]
    system, slash, path = rest.partition("/")
    try:
        require_system_name(system)
    except InvalidInput as exc:
        raise InvalidInput(f"URI {uri[:200]!r}: {exc}") from None
    return system, normalize_archive_path(slash + path if path else "/")


def agave_uri(system: str, path: str) -> str:
    """The ``agave://`` URI of ``path`` on ``system`` (the inverse of :func:`parse_agave_uri`)."""
    return f"{AGAVE_SCHEME}{require_system_name(system)}{normalize_archive_path(path)}"
