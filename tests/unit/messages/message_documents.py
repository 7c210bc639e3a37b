"""What an actor works with, from a body: its document, checked against the message's schema.

The tests of the codec compare encodings through these (JSON and protobuf must give the same
document); ``protobuf`` is the document's protobuf form, as a client sends it.
"""

from __future__ import annotations

from typing import Any

from pipelinejobs.messages import DEFAULT_LIMITS, Limits, decode_document, message_type, registry
from pipelinejobs.messages.protodocs import proto_from_document


def decode(
    body: bytes, content_type: str, name: str, limits: Limits = DEFAULT_LIMITS
) -> dict[str, Any]:
    """The body's document after its JSON Schema passed (as the actor of ``name`` checks it)."""
    kind = message_type(name)
    document = decode_document(body, content_type, kind.name, limits)
    registry().validate(document, kind.schema)
    return document


def protobuf(document: dict[str, Any], name: str) -> bytes:
    """Deterministic protobuf bytes of a message document."""
    proto = proto_from_document(document, message_type(name).proto)
    return proto.SerializeToString(deterministic=True)
