"""Decode and encode messages as JSON or protobuf, through one validation path.

Whatever the encoding, a body becomes a JSON document first, the document is checked against
the size limits and its JSON Schema, and only then becomes a model. So a message decoded from
either encoding is the same object, and one refused in one encoding is refused in the other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from pydantic import ValidationError

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
from pipelinejobs.messages.models import MESSAGE_MODELS, MessageModel
from pipelinejobs.messages.pb.pipelinejobs.v1 import (
    agave_pb2,
    indexer_pb2,
    jobs_pb2,
    pipelines_pb2,
)
from pipelinejobs.messages.protodocs import document_from_proto, proto_from_document
from pipelinejobs.messages.schemas import registry

PROTOBUF_CONTENT_TYPES = frozenset({PROTOBUF_CONTENT_TYPE, "application/protobuf"})


@dataclass(frozen=True)
class MessageType:
    """One kind of message: its name on the bus, model, protobuf class and JSON Schema."""

    name: str
    model: type[MessageModel]
    proto: type[Message]
    schema: str


_PROTO_MODULES = (pipelines_pb2, jobs_pb2, indexer_pb2, agave_pb2)
_PROTOS: dict[str, type[Message]] = {
    cls.DESCRIPTOR.full_name: cls
    for module in _PROTO_MODULES
    for cls in vars(module).values()
    if isinstance(cls, type) and issubclass(cls, Message)
}

MESSAGE_TYPES: Mapping[str, MessageType] = {
    model.message_type: MessageType(
        name=model.message_type,
        model=model,
        proto=_PROTOS[model.proto_name],
        schema=model.schema_name,
    )
    for model in MESSAGE_MODELS
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


def decode(
    body: bytes,
    content_type: str,
    message_type: str,
    limits: Limits = DEFAULT_LIMITS,
) -> MessageModel:
    """The model of a JSON or protobuf body, after the limits and its JSON Schema passed."""
    kind = _message_type(message_type)
    return from_document(decode_document(body, content_type, kind.name, limits), kind.name)


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


def from_document(document: Any, message_type: str) -> MessageModel:
    """The model of a JSON document, after its JSON Schema passed."""
    kind = _message_type(message_type)
    registry().validate(document, kind.schema)
    try:
        return kind.model.model_validate(document)
    except ValidationError as exc:  # the schema and the model disagree: name the fields
        raise InvalidInput(f"{kind.name}: {exc}") from exc


def to_document(model: MessageModel) -> dict[str, Any]:
    """The JSON document of a model, checked against its schema (nothing invalid is sent)."""
    if not isinstance(model, MessageModel):
        raise refused("model", model, f"a message model: {', '.join(sorted(MESSAGE_TYPES))}")
    document = model.to_document()
    registry().validate(document, model.schema_name)
    return document


def encode_json(model: MessageModel) -> bytes:
    """Compact UTF-8 JSON of the model's document."""
    text = json.dumps(
        to_document(model), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )
    return text.encode("utf-8")


def encode_protobuf(model: MessageModel) -> bytes:
    """Deterministic protobuf bytes of the model's document."""
    document = to_document(model)
    kind = _message_type(model.message_type)
    message = proto_from_document(document, kind.proto)
    return message.SerializeToString(deterministic=True)


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
