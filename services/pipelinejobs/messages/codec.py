"""Decode message bodies, JSON or protobuf, into one JSON document.

Whatever the encoding, a body becomes a JSON document first and is checked against the size
limits; the actor that handles it then checks it against its JSON Schema. So a message decoded
from either encoding is the same document (the same domain object for the actor), and one
refused in one encoding is refused in the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from pipelinejobs.bus.port import JSON_CONTENT_TYPE, PROTOBUF_CONTENT_TYPE
from pipelinejobs.domain.checks import refused
from pipelinejobs.errors import InvalidInput, MessageTooLarge
from pipelinejobs.messages.limits import (
    DEFAULT_LIMITS,
    Limits,
    check_document,
    parse_json,
    require_limits,
)
from pipelinejobs.messages.pb.pipelinejobs.v1 import (
    agave_pb2,
    indexer_pb2,
    jobs_pb2,
    pipelines_pb2,
)
from pipelinejobs.messages.protodocs import document_from_proto

PROTOBUF_CONTENT_TYPES = frozenset({PROTOBUF_CONTENT_TYPE, "application/protobuf"})


@dataclass(frozen=True)
class MessageType:
    """One kind of message: its name on the bus, protobuf class and JSON Schema."""

    name: str
    proto: type[Message]
    schema: str


_SCHEMAS: Mapping[str, str] = {
    "PipelineCreate": "pipeline_manager_create",
    "PipelineUpdate": "pipeline_manager_update",
    "PipelineRetire": "pipeline_manager_retire",
    "JobCreate": "pipelinejob_create",
    "JobEvent": "pipelinejob_manager_event",
    "AgaveJobCallback": "agave_job_callback",
    "IndexRequest": "pipelinejob_index",
    "IndexedEvent": "pipelinejob_indexed",
    "AgavePipelineJob": "agave_pipelinejob",
}
"""Message type -> the JSON Schema its document follows (its protobuf message has its name)."""


_PROTO_MODULES = (pipelines_pb2, jobs_pb2, indexer_pb2, agave_pb2)
_PROTOS: dict[str, type[Message]] = {
    cls.DESCRIPTOR.full_name: cls
    for module in _PROTO_MODULES
    for cls in vars(module).values()
    if isinstance(cls, type) and issubclass(cls, Message)
}

MESSAGE_TYPES: Mapping[str, MessageType] = {
    name: MessageType(name=name, proto=_PROTOS[f"pipelinejobs.v1.{name}"], schema=schema)
    for name, schema in _SCHEMAS.items()
}
_ALIASES: dict[str, MessageType] = {
    alias: kind
    for kind in MESSAGE_TYPES.values()
    for alias in (kind.name, kind.proto.DESCRIPTOR.full_name, kind.schema)
}


def message_type(name: str) -> MessageType:
    """The message type named ``JobEvent``, ``pipelinejobs.v1.JobEvent`` or by its schema name
    (``pipelinejob_manager_event``)."""
    kind = _ALIASES.get(name) if isinstance(name, str) else None
    if kind is None:
        raise InvalidInput(
            f"message type {name!r} is unknown; accepted: {', '.join(sorted(MESSAGE_TYPES))}"
        )
    return kind


def decode_document(
    body: bytes,
    content_type: str,
    message_type: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """The JSON document of a body, within the limits but not yet checked against a schema
    (for actors that pick the schema themselves). An empty JSON body is ``{}``; a protobuf body
    needs its ``message_type``."""
    if not isinstance(body, bytes | bytearray):
        raise refused("message body", body, "bytes")
    body = bytes(body)
    require_limits(limits)
    media_type = _media_type(content_type)
    if _is_json(media_type):
        if not body.strip():
            return {}
        document = parse_json(body, limits)
        if not isinstance(document, dict):
            raise InvalidInput(
                f"message body must be a JSON object, not a JSON {_json_kind(document)}"
            )
        return document
    if media_type in PROTOBUF_CONTENT_TYPES:
        if message_type is None:
            raise InvalidInput(
                "a protobuf message needs its message type; accepted: "
                + ", ".join(sorted(MESSAGE_TYPES))
            )
        kind = _message_type(message_type)
        if len(body) > limits.max_bytes:
            raise MessageTooLarge(
                f"message body is {len(body)} bytes; the limit is {limits.max_bytes} bytes"
            )
        document = document_from_proto(body, kind.proto, max_depth=limits.max_depth)
        check_document(document, limits)
        return document
    raise InvalidInput(
        f"content type {content_type!r} is not accepted; send {JSON_CONTENT_TYPE} or "
        f"{PROTOBUF_CONTENT_TYPE}"
    )


def _message_type(name: str) -> MessageType:
    """``message_type`` for functions whose parameter of that name hides it."""
    return message_type(name)


def _media_type(content_type: str) -> str:
    if not isinstance(content_type, str):
        raise refused(
            "content type", content_type, f"a str: {JSON_CONTENT_TYPE} or {PROTOBUF_CONTENT_TYPE}"
        )
    return content_type.split(";", 1)[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return media_type == JSON_CONTENT_TYPE or media_type.endswith("+json")


def _json_kind(document: Any) -> str:
    if isinstance(document, list):
        return "array"
    if isinstance(document, str):
        return "string"
    if isinstance(document, bool):
        return "boolean"
    if document is None:
        return "null"
    return "number"
