"""Protobuf messages to JSON documents and back, so that both encodings give the same document.

The proto files give every field the JSON name of its schema property, so the proto3 JSON mapping
does most of the work. What it cannot do alone, done here:

- Numbers inside ``Struct``/``Value`` are doubles. An integer survives only up to 2**53, so a
  larger one is refused when encoding rather than silently rounded; on decoding, an integral
  number within that range is read back as an ``int``. (A JSON ``4.0`` therefore arrives as ``4``;
  JSON and JSON Schema treat them as the same number.)
- An open schema (the compute-service callback) keeps properties it does not name: they travel
  in the ``additional_properties`` Struct and are spread back to the top level.
- Fields this version does not know are refused, as unknown JSON properties are.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from pipelinejobs.domain.checks import refused
from pipelinejobs.errors import InvalidInput, MessageTooLarge
from pipelinejobs.messages.limits import DEFAULT_LIMITS
from pipelinejobs.messages.problems import json_path
from pipelinejobs.messages.protowire import EXTRA_FIELD, json_depth

MAX_EXACT_INTEGER = 2**53


def proto_from_document(document: dict[str, Any], proto: type[Message]) -> Message:
    """The protobuf message holding ``document`` (already valid against its schema)."""
    _require_proto(proto)
    if not isinstance(document, dict):
        raise refused("document", document, f"a JSON object for {proto.DESCRIPTOR.name}")
    known = _json_names(proto)
    extra_field = proto.DESCRIPTOR.fields_by_name.get(EXTRA_FIELD)
    extras = {key: value for key, value in document.items() if key not in known}
    if extras and extra_field is None:
        raise InvalidInput(
            f"{proto.DESCRIPTOR.name} has no field for {', '.join(sorted(map(repr, extras)))}; "
            f"accepted: {', '.join(sorted(known))}"
        )
    _refuse_inexact_integers(document, [])
    fields = {key: value for key, value in document.items() if key in known}
    if extras and extra_field is not None:
        fields[extra_field.json_name] = extras
    message = proto()
    try:
        json_format.ParseDict(fields, message)
    except json_format.ParseError as exc:
        raise InvalidInput(f"cannot encode as {proto.DESCRIPTOR.name}: {exc}") from exc
    return message


def document_from_proto(
    body: bytes, proto: type[Message], *, max_depth: int = DEFAULT_LIMITS.max_depth
) -> dict[str, Any]:
    """The JSON document of a serialized ``proto`` message.

    A body the decoder refuses is refused as nested too deeply when its JSON document would nest
    deeper than ``max_depth`` levels (the decoder's own limit is reached first for some), and as
    malformed otherwise.
    """
    _require_proto(proto)
    if not isinstance(body, bytes):
        raise refused("protobuf body", body, "bytes")
    name = proto.DESCRIPTOR.name
    try:
        message = proto.FromString(body)
    except (DecodeError, RecursionError) as exc:
        raise _unparsable(body, proto, max_depth, exc) from exc
    size = message.ByteSize()
    message.DiscardUnknownFields()
    if message.ByteSize() != size:
        raise InvalidInput(
            f"protobuf {name} message has fields this version does not know; accepted: "
            + ", ".join(sorted(_json_names(proto)))
        )
    try:
        document = json_format.MessageToDict(message)
    except (ValueError, json_format.Error) as exc:  # e.g. NaN inside a Value
        raise InvalidInput(f"protobuf {name} message cannot be read as JSON: {exc}") from exc
    extra_field = proto.DESCRIPTOR.fields_by_name.get(EXTRA_FIELD)
    if extra_field is not None:
        extras = document.pop(extra_field.json_name, {})
        repeated = sorted(set(extras) & set(document))
        if repeated:
            raise InvalidInput(
                f"protobuf {name} message gives {', '.join(map(repr, repeated))} both as a field "
                f"and in {EXTRA_FIELD}; send each property once"
            )
        document.update(extras)
    restored: dict[str, Any] = _restore_integers(document)
    return restored


def _unparsable(body: bytes, proto: type[Message], max_depth: int, exc: Exception) -> InvalidInput:
    """Why the decoder refused ``body``: too deep (as a JSON body is told), or malformed."""
    name = proto.DESCRIPTOR.name
    depth = json_depth(body, proto)
    if depth is None:
        return InvalidInput(f"body is not a valid protobuf {name} message: {exc}")
    if depth > max_depth:
        return MessageTooLarge(f"message nesting depth is {depth}; the limit is {max_depth} levels")
    return InvalidInput(
        f"body is not a valid protobuf {name} message: it is malformed, or nested deeper than "
        f"the protobuf decoder accepts (send a deeply nested document as JSON): {exc}"
    )


def _require_proto(proto: object) -> None:
    if not (isinstance(proto, type) and issubclass(proto, Message)):
        raise refused("proto", proto, "a generated protobuf message class (jobs_pb2.JobEvent)")


def _json_names(proto: type[Message]) -> set[str]:
    return {field.json_name for field in proto.DESCRIPTOR.fields if field.name != EXTRA_FIELD}


def _refuse_inexact_integers(value: Any, path: list[str | int]) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_EXACT_INTEGER:
            raise InvalidInput(
                f"{json_path(path)}: integer {value} cannot be carried exactly by protobuf "
                f"(limit +/-2**53); send it as a string, or send the message as JSON"
            )
    elif isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            path.append(key)
            _refuse_inexact_integers(item, path)
            path.pop()


def _restore_integers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_EXACT_INTEGER:
        return int(value)
    if isinstance(value, dict):
        return {key: _restore_integers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_restore_integers(item) for item in value]
    return value
