"""Typed UUIDs: UUID5 names in a DNS-derived namespace whose first three hex digits say the type.

The same text always gives the same UUID, which makes pipeline and job creation idempotent,
and a UUID read anywhere (a message, a URL, a log line) tells what kind of document it names.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from enum import StrEnum
from functools import lru_cache
from typing import Any

from pipelinejobs.domain.canonical import canonical_json
from pipelinejobs.domain.checks import refused
from pipelinejobs.errors import InvalidIdentifier, InvalidInput

DEFAULT_DOMAIN = "sd2e.org"


class UUIDType(StrEnum):
    """The kinds of documents a typed UUID can name; ``.prefix`` is its three-digit marker."""

    GENERIC = "generic"
    CHALLENGE_PROBLEM = "challenge_problem"
    EXPERIMENT = "experiment"
    SAMPLE = "sample"
    MEASUREMENT = "measurement"
    FILE = "file"
    PIPELINE = "pipeline"
    PIPELINEJOB = "pipelinejob"
    PIPELINEJOB_EVENT = "pipelinejob_event"
    REFERENCE = "reference"
    PRODUCT = "product"
    UPLOAD = "upload"
    EXPERIMENT_DESIGN = "experiment_design"
    INPUT_CLASSIFIER = "input_classifier"
    FIXITY = "fixity"
    PROCESS = "process"
    ANNOTATION = "annotation"
    INLINE_ANNOTATION = "inline_annotation"
    QUERY = "query"
    DASHBOARD = "dashboard"
    TAG_ANNOTATION = "tag_annotation"
    TEXT_ANNOTATION = "text_annotation"
    ASSOCIATION = "association"
    STRUCTURED_REQUEST = "structured_request"

    @property
    def prefix(self) -> str:
        """The three hex digits that open every UUID of this type."""
        return _PREFIXES[self]


_PREFIXES: dict[UUIDType, str] = {
    UUIDType.GENERIC: "100",
    UUIDType.CHALLENGE_PROBLEM: "101",
    UUIDType.EXPERIMENT: "102",
    UUIDType.SAMPLE: "103",
    UUIDType.MEASUREMENT: "104",
    UUIDType.FILE: "105",
    UUIDType.PIPELINE: "106",
    UUIDType.PIPELINEJOB: "107",
    UUIDType.PIPELINEJOB_EVENT: "108",
    UUIDType.REFERENCE: "109",
    UUIDType.PRODUCT: "110",
    UUIDType.UPLOAD: "111",
    UUIDType.EXPERIMENT_DESIGN: "114",
    UUIDType.INPUT_CLASSIFIER: "115",
    UUIDType.FIXITY: "116",
    UUIDType.PROCESS: "117",
    UUIDType.ANNOTATION: "118",
    UUIDType.INLINE_ANNOTATION: "119",
    UUIDType.QUERY: "120",
    UUIDType.DASHBOARD: "121",
    UUIDType.TAG_ANNOTATION: "122",
    UUIDType.TEXT_ANNOTATION: "123",
    UUIDType.ASSOCIATION: "124",
    UUIDType.STRUCTURED_REQUEST: "125",
}
_BY_PREFIX: dict[str, UUIDType] = {prefix: kind for kind, prefix in _PREFIXES.items()}
_UUID_SHAPE = re.compile(
    r"(?:uri:urn:)?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", re.IGNORECASE
)
_ACCEPTED_SHAPE = (
    "a typed UUID such as 107acb4d-1f93-553a-9e1c-b7b58125bc89 (optionally prefixed 'uri:urn:')"
)


def namespace(domain: str = DEFAULT_DOMAIN) -> uuid.UUID:
    """The UUID5 namespace of a catalog domain: uuid3(NAMESPACE_DNS, domain)."""
    if not isinstance(domain, str) or not domain:
        raise refused("domain", domain, "a DNS name such as 'sd2e.org'")
    return _namespace(domain)


@lru_cache(maxsize=16)
def _namespace(domain: str) -> uuid.UUID:
    """Cached apart from the check, so an unhashable argument is refused, not a TypeError."""
    return uuid.uuid3(uuid.NAMESPACE_DNS, domain)


def as_uuid_type(value: UUIDType | str) -> UUIDType:
    """Accept a ``UUIDType`` or its name (any case); refuse anything else by listing the names."""
    if isinstance(value, UUIDType):
        return value
    if isinstance(value, str):
        try:
            return UUIDType(value.lower())
        except ValueError:
            pass
    names = ", ".join(kind.value for kind in UUIDType)
    raise InvalidInput(f"uuid type {value!r} is unknown; accepted: {names}")


def typed_uuid(text: str, uuid_type: UUIDType | str, *, domain: str = DEFAULT_DOMAIN) -> str:
    """The typed UUID of ``text``: uuid5 in the domain's namespace, prefix swapped in."""
    kind = as_uuid_type(uuid_type)
    if not isinstance(text, str):
        raise InvalidInput(f"text to identify must be a str, got a {type(text).__name__}")
    digest = uuid.uuid5(namespace(domain), text)
    return str(uuid.UUID(kind.prefix + digest.hex[3:]))


def normalize_uuid(value: str) -> str:
    """The lowercase UUID text of a typed UUID, without any 'uri:urn:' prefix."""
    return _parse(value)[0]


def uuid_type(value: str) -> UUIDType:
    """Which kind of document a typed UUID names."""
    return _parse(value)[1]


def require_uuid(value: str, expected: UUIDType) -> str:
    """Return the normalized UUID if it is of type ``expected``; refuse it otherwise."""
    expected = as_uuid_type(expected)
    text, kind = _parse(value)
    if kind is not expected:
        raise InvalidIdentifier(
            f"expected a {expected.value} UUID (prefix {expected.prefix}), "
            f"got a {kind.value} UUID (prefix {kind.prefix}): {text}"
        )
    return text


def random_typed_uuid(
    uuid_type: UUIDType | str, entropy: str, *, domain: str = DEFAULT_DOMAIN
) -> str:
    """A typed UUID for something with no natural key, e.g. a history event (type 108).

    The caller supplies the randomness (``secrets.token_hex()``) so this module stays pure.
    """
    if not isinstance(entropy, str) or not entropy:
        raise InvalidInput("entropy must be a non-empty str, such as secrets.token_hex()")
    return typed_uuid(entropy, uuid_type, domain=domain)


def pipeline_uuid(components: list[Any], *, domain: str = DEFAULT_DOMAIN) -> str:
    """The pipeline UUID: components only, so renaming or redescribing keeps the identity.

    Every component must be a JSON object (a container, an actor, a service...): a bare string
    or number names no component, and accepting it would mint a pipeline nobody can run.
    """
    if not isinstance(components, list):
        raise refused("components", components, "a list of component objects")
    for index, component in enumerate(components):
        if not isinstance(component, Mapping):
            raise refused(
                f"components[{index}]", component, 'a component object such as {"id": "..."}'
            )
    return typed_uuid(canonical_json(components), UUIDType.PIPELINE, domain=domain)


def job_uuid(
    pipeline_uuid: str,
    linked_uuids: Iterable[str],
    data: Mapping[str, Any],
    *,
    domain: str = DEFAULT_DOMAIN,
) -> str:
    """The job UUID: the same pipeline, linked metadata (any order) and data give the same job."""
    pipeline = require_uuid(pipeline_uuid, UUIDType.PIPELINE)
    if not isinstance(data, Mapping):
        raise InvalidInput(f"data must be a JSON object, got a {type(data).__name__}")
    key = {"pipeline_uuid": pipeline, "linked": linkage(linked_uuids), "data": data}
    return typed_uuid(canonical_json(key), UUIDType.PIPELINEJOB, domain=domain)


def linkage(linked_uuids: Iterable[str]) -> list[str]:
    """Normalized, de-duplicated and sorted typed UUIDs, so their order never changes identity.

    A single string is refused rather than read as a list of characters, and a mapping rather
    than read as its keys.
    """
    if isinstance(linked_uuids, str | bytes):
        raise InvalidInput(
            f"linked uuids must be a list of typed UUIDs, not a single string: {linked_uuids!r}"
        )
    if isinstance(linked_uuids, Mapping) or not isinstance(linked_uuids, Iterable):
        raise refused("linked uuids", linked_uuids, "a list of typed UUIDs (empty for none)")
    normalized: set[str] = set()
    for index, value in enumerate(linked_uuids):
        try:
            normalized.add(normalize_uuid(value))
        except InvalidIdentifier as exc:
            raise InvalidIdentifier(f"linked uuids[{index}]: {exc}") from None
    return sorted(normalized)


def file_uuid(path: str, *, domain: str = DEFAULT_DOMAIN) -> str:
    """The file UUID of an absolute, storage-canonical path (as the storage listing gives it)."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidInput(f"file path {path!r} is not accepted; expected an absolute path")
    return typed_uuid(path, UUIDType.FILE, domain=domain)


def _parse(value: str) -> tuple[str, UUIDType]:
    if not isinstance(value, str):
        raise InvalidIdentifier(
            f"{type(value).__name__} is not accepted; expected {_ACCEPTED_SHAPE}"
        )
    match = _UUID_SHAPE.fullmatch(value)
    if match is None:
        raise InvalidIdentifier(f"{_shown(value)} is not a UUID; expected {_ACCEPTED_SHAPE}")
    text = match.group(1).lower()
    kind = _BY_PREFIX.get(text[:3])
    if kind is None:
        known = ", ".join(f"{prefix} {name.value}" for name, prefix in _PREFIXES.items())
        raise InvalidIdentifier(
            f"{text} has unknown type prefix {text[:3]}; accepted prefixes: {known}"
        )
    return text, kind


def _shown(value: str, limit: int = 80) -> str:
    """Quote a refused value, cut short so an oversized input cannot flood a log line."""
    if len(value) <= limit:
        return repr(value)
    return repr(value[:limit]) + f"... ({len(value)} characters)"
