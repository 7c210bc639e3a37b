"""Messages: JSON Schemas, size limits, and decoding JSON and protobuf bodies to documents."""

from pipelinejobs.messages.codec import MESSAGE_TYPES, MessageType, decode_document, message_type
from pipelinejobs.messages.limits import DEFAULT_LIMITS, Limits, check_document, parse_json
from pipelinejobs.messages.schemas import SchemaRegistry, registry

__all__ = [
    "DEFAULT_LIMITS",
    "MESSAGE_TYPES",
    "Limits",
    "MessageType",
    "SchemaRegistry",
    "check_document",
    "decode_document",
    "message_type",
    "parse_json",
    "registry",
]
