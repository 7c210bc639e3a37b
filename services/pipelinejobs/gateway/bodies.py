"""Reading request bodies within the size limit, and turning them into messages.

``curl --data '{...}'`` sends JSON labelled ``application/x-www-form-urlencoded``; the
documentation's examples rely on it, so a form-labelled body that looks like JSON is read as
JSON. Abaco's own forms are read too: a form field ``message``, or the URL parameter ``message``
when there is no body. Protobuf bodies need their message type in ``X-Message-Type``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from starlette.requests import ClientDisconnect

from pipelinejobs.bus.port import JSON_CONTENT_TYPE, PROTOBUF_CONTENT_TYPE
from pipelinejobs.errors import InvalidInput, MessageTooLarge
from pipelinejobs.gateway.problems import IncompleteBody, UnsupportedMediaType
from pipelinejobs.messages.codec import PROTOBUF_CONTENT_TYPES, decode_document, message_type
from pipelinejobs.messages.limits import Limits

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
_TEXT_MEDIA_TYPES = frozenset({"", FORM_MEDIA_TYPE, "text/plain", "application/octet-stream"})
ACCEPTED_MEDIA_TYPES = (
    f"{JSON_CONTENT_TYPE}, {PROTOBUF_CONTENT_TYPE}, or JSON text sent as {FORM_MEDIA_TYPE} "
    "or text/plain"
)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body; ``MessageTooLarge`` as soon as it is known to exceed ``max_bytes``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        raise MessageTooLarge(f"the body is {int(declared)} bytes; the limit is {max_bytes} bytes")
    received = bytearray()
    try:
        async for chunk in request.stream():
            received.extend(chunk)
            if len(received) > max_bytes:
                raise MessageTooLarge(f"the body exceeds the limit of {max_bytes} bytes")
    except ClientDisconnect:
        raise IncompleteBody() from None
    return bytes(received)


def media_type_of(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class IncomingMessage:
    """A message as it will be published, with the text the reply echoes (Abaco's ``msg``)."""

    body: bytes
    content_type: str
    message_type: str | None
    document: dict[str, Any]
    text: str


def incoming_message(
    body: bytes,
    content_type: str | None,
    *,
    message_type_name: str | None,
    message_parameter: str | None,
    limits: Limits,
) -> IncomingMessage:
    """Decode a request into the message to publish; ``InvalidInput`` naming the problem."""
    media_type = media_type_of(content_type)
    if media_type in PROTOBUF_CONTENT_TYPES:
        if not message_type_name:
            raise InvalidInput(
                "a protobuf body needs the header X-Message-Type naming its message, "
                "e.g. X-Message-Type: JobEvent"
            )
        document = decode_document(body, PROTOBUF_CONTENT_TYPE, message_type_name, limits)
        text = json.dumps(document, separators=(",", ":"))
        proto_kind = message_type(message_type_name).name
        return IncomingMessage(body, PROTOBUF_CONTENT_TYPE, proto_kind, document, text)
    json_kind = message_type(message_type_name).name if message_type_name else None
    text = _json_text(body, media_type, message_parameter)
    document = decode_document(text.encode("utf-8"), JSON_CONTENT_TYPE, None, limits)
    return IncomingMessage(text.encode("utf-8"), JSON_CONTENT_TYPE, json_kind, document, text)


def _json_text(body: bytes, media_type: str, message_parameter: str | None) -> str:
    """The JSON text of the message: the body, a form's ``message`` field, or the parameter."""
    is_json = media_type == JSON_CONTENT_TYPE or media_type.endswith("+json")
    if not is_json and media_type not in _TEXT_MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"content type {media_type!r:.80} is not accepted; send {ACCEPTED_MEDIA_TYPES}"
        )
    if not body.strip():
        return message_parameter or ""
    text = _utf8(body)
    if media_type == FORM_MEDIA_TYPE and not text.lstrip().startswith(("{", "[")):
        return _form_message(text)
    return text


def _form_message(text: str) -> str:
    try:
        fields = parse_qs(text, keep_blank_values=True, strict_parsing=True, max_num_fields=100)
    except ValueError:
        fields = {}
    values = fields.get("message")
    if not values:
        raise InvalidInput(
            "the form body has no 'message' field and is not JSON; send the message as JSON "
            "(curl --data '{\"uuid\": ...}') or as the form field message=<JSON>"
        )
    return values[-1]


def _utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"the body is not valid UTF-8: {exc.reason} at byte {exc.start}"
        ) from None
