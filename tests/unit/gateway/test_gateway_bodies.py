"""How a request body becomes a message: JSON however curl labels it, forms, protobuf."""

from __future__ import annotations

import json

import pytest
from pipelinejobs.errors import InvalidInput, MessageTooLarge
from pipelinejobs.gateway.bodies import incoming_message
from pipelinejobs.gateway.problems import UnsupportedMediaType
from pipelinejobs.messages.limits import Limits
from pipelinejobs.messages.pb.pipelinejobs.v1 import jobs_pb2
from pipelinejobs.messages.protodocs import proto_from_document

LIMITS = Limits(max_bytes=2048, max_depth=8)
JOB = "1073f4ff-c2b9-5190-bd9a-e6a406d9796a"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/x-www-form-urlencoded",
        "text/plain",
        None,
    ],
)
def test_json_text_is_read_whatever_curl_calls_it(content_type: str | None) -> None:
    message = incoming_message(
        b'{"uuid": "x", "name": "finish"}',
        content_type,
        message_type_name=None,
        message_parameter=None,
        limits=LIMITS,
    )

    assert message.document == {"uuid": "x", "name": "finish"}
    assert message.content_type == "application/json"
    assert message.text == '{"uuid": "x", "name": "finish"}'


def test_form_field_message_and_message_parameter() -> None:
    form = incoming_message(
        b"message=%7B%22name%22%3A%20%22run%22%7D",
        "application/x-www-form-urlencoded",
        message_type_name=None,
        message_parameter=None,
        limits=LIMITS,
    )
    parameter = incoming_message(
        b"", None, message_type_name=None, message_parameter='{"name": "run"}', limits=LIMITS
    )

    assert form.document == parameter.document == {"name": "run"}
    assert parameter.body == b'{"name": "run"}'


def test_a_form_without_message_is_refused_with_the_accepted_forms() -> None:
    with pytest.raises(InvalidInput, match="message=<JSON>"):
        incoming_message(
            b"uuid=1&name=finish",
            "application/x-www-form-urlencoded",
            message_type_name=None,
            message_parameter=None,
            limits=LIMITS,
        )


def test_protobuf_is_decoded_to_the_same_document() -> None:
    document = {"uuid": JOB, "name": "finish", "token": "0dc73dc3ff39b49a"}
    body = proto_from_document(document, jobs_pb2.JobEvent).SerializeToString()

    message = incoming_message(
        body,
        "application/x-protobuf",
        message_type_name="pipelinejobs.v1.JobEvent",
        message_parameter=None,
        limits=LIMITS,
    )

    assert message.document == document
    assert message.body == body
    assert message.message_type == "JobEvent"
    assert json.loads(message.text) == document


def test_limits_apply_to_json_bodies() -> None:
    with pytest.raises(MessageTooLarge):
        incoming_message(
            b"[" * 20 + b"]" * 20,
            "application/json",
            message_type_name=None,
            message_parameter=None,
            limits=LIMITS,
        )


def test_invalid_utf8_and_unknown_media_types_are_refused() -> None:
    with pytest.raises(InvalidInput, match="UTF-8"):
        incoming_message(
            b'{"a": "\xff"}',
            "text/plain",
            message_type_name=None,
            message_parameter=None,
            limits=LIMITS,
        )
    with pytest.raises(UnsupportedMediaType, match="multipart/form-data"):
        incoming_message(
            b"--x",
            "multipart/form-data; boundary=x",
            message_type_name=None,
            message_parameter=None,
            limits=LIMITS,
        )
