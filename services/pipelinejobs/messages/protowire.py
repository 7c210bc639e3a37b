"""How deeply the JSON document of a serialized protobuf message would nest, read from the wire.

The protobuf decoder refuses a message nested past its own limit (100 messages for upb) with an
error that says only that the bytes could not be parsed. To tell a sender that the body was too
deep, and how deep, the way a JSON body is told, this module walks the wire format guided by the
message descriptors, without building the message, and counts the levels its JSON document has:

- the message itself, every ``Struct`` and every ordinary sub-message is an object (one level);
- every ``ListValue``, repeated field and map field is an array or object (one level);
- a ``Value`` and a map entry are no level of their own (``{"a": 1}`` is one level);
- the top-level ``additional_properties`` Struct of an open message is none either: its
  properties are spread into the document itself (see ``protodocs``).

It is used after a failed parse only, so a valid message costs nothing extra. The walk is an
explicit stack, not recursion: a body can hold many thousand levels.
"""

from __future__ import annotations

from typing import cast

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

EXTRA_FIELD = "additional_properties"
"""The Struct field of an open message that holds the properties its schema does not name."""

_CONTAINERS = frozenset({"google.protobuf.Struct", "google.protobuf.ListValue"})
_WRAPPERS = frozenset({"google.protobuf.Value"})
_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


def json_depth(body: bytes, proto: type[Message]) -> int | None:
    """The JSON nesting depth of ``body`` as a ``proto`` message; ``None`` if the wire format
    is malformed (a truncated field, a bad length, a group or an unknown wire type)."""
    # The stubs type DESCRIPTOR as the upb or the pure-Python class; both have the same API.
    descriptor = cast(Descriptor, proto.DESCRIPTOR)
    deepest = 1
    stack = [(0, len(body), descriptor, 1, True)]  # start, end, message, its depth, top level?
    while stack:
        position, end, message, depth, top = stack.pop()
        while position < end:
            tag, position = _varint(body, position, end)
            if tag is None:
                return None
            field = message.fields_by_number.get(tag >> 3)
            wire_type = tag & 7
            if wire_type == _LENGTH:
                length, position = _varint(body, position, end)
                if length is None or position + length > end:
                    return None
                start, position = position, position + length
                if field is not None and field.message_type is not None:
                    spread = top and field.name == EXTRA_FIELD
                    child = depth if spread else depth + _levels(message, field, field.message_type)
                    stack.append((start, position, field.message_type, child, False))
                    deepest = max(deepest, child)
                    continue
            elif wire_type == _VARINT:
                value, position = _varint(body, position, end)
                if value is None:
                    return None
            elif wire_type in (_FIXED64, _FIXED32):
                position += 8 if wire_type == _FIXED64 else 4
                if position > end:
                    return None
            else:
                return None
            if field is not None and _is_list(message, field):
                deepest = max(deepest, depth + 1)
    return deepest


def _levels(parent: Descriptor, field: FieldDescriptor, child: Descriptor) -> int:
    """JSON levels opened by one value of ``field`` of ``parent``, a ``child`` message."""
    own = 0 if child.full_name in _WRAPPERS or child.GetOptions().map_entry else 1
    return own + (1 if _is_list(parent, field) else 0)


def _is_list(parent: Descriptor, field: FieldDescriptor) -> bool:
    """A repeated or map field is a JSON array or object, unless ``parent`` already is that
    container (the fields of a ``Struct``, the values of a ``ListValue``)."""
    return field.is_repeated and parent.full_name not in _CONTAINERS


def _varint(body: bytes, position: int, end: int) -> tuple[int | None, int]:
    """A base-128 varint at ``position``, and the position after it; ``None`` if truncated."""
    value = 0
    for shift in range(0, 70, 7):
        if position >= end:
            return None, position
        byte = body[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
    return None, position
