"""Every public messages function refuses an argument of the wrong type with ``InvalidInput``
naming the argument and what it accepts, never with a raw AttributeError or TypeError."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pipelinejobs.errors import InvalidInput
from pipelinejobs.messages import (
    Limits,
    SchemaRegistry,
    check_document,
    decode_document,
    message_type,
    parse_json,
    registry,
)
from pipelinejobs.messages.limits import nesting_depth
from pipelinejobs.messages.pb.pipelinejobs.v1 import jobs_pb2
from pipelinejobs.messages.problems import json_path, problems_of
from pipelinejobs.messages.protodocs import document_from_proto, proto_from_document

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
EVENT = {"uuid": "1073f4ff-c2b9-5190-bd9a-e6a406d9796a", "name": "finish"}
BODY = b'{"uuid": "1073f4ff-c2b9-5190-bd9a-e6a406d9796a", "name": "finish"}'
WRONG = [None, 5, 1.5, [], {}, object()]

Call = Callable[[Any], object]

CASES: list[tuple[str, Call, list[Any], str]] = [
    (
        "parse_json body",
        parse_json,
        WRONG,
        r"JSON body must be bytes or a str of JSON text",
    ),
    (
        "parse_json limits",
        lambda bad: parse_json(b"{}", bad),
        [*WRONG, "32"],
        r"limits must be a Limits, such as Limits\(max_bytes=65536\)",
    ),
    (
        "decode_document content type",
        lambda bad: decode_document(b"{}", bad),
        [*WRONG, b"application/json"],
        r"content type must be a str: application/json or application/x-protobuf",
    ),
    (
        "decode_document body",
        lambda bad: decode_document(bad, JSON),
        [*WRONG, "{}"],
        r"message body must be bytes",
    ),
    (
        "decode_document limits",
        lambda bad: decode_document(BODY, JSON, "JobEvent", bad),
        WRONG,
        r"limits must be a Limits",
    ),
    (
        "decode_document protobuf message type",
        lambda bad: decode_document(b"", PROTOBUF, bad),
        [[], {}, 5],
        r"message type .* is unknown; accepted: AgaveJobCallback",
    ),
    (
        "message_type",
        message_type,
        WRONG,
        r"message type .* is unknown; accepted: AgaveJobCallback, AgavePipelineJob",
    ),
    (
        "check_document limits",
        lambda bad: check_document({}, bad),
        WRONG,
        r"limits must be a Limits",
    ),
    ("nesting_depth", nesting_depth, [*WRONG, b"{}"], r"JSON text must be a str"),
    (
        "validate schema",
        lambda bad: registry().validate({}, bad),
        WRONG,
        r"schema must be a schema name as a str; known schemas: agave_files_uri, ",
    ),
    (
        "is_valid schema",
        lambda bad: registry().is_valid({}, bad),
        WRONG,
        r"schema must be a schema name as a str",
    ),
    (
        "schema",
        lambda bad: registry().schema(bad),
        WRONG,
        r"schema must be a schema name as a str",
    ),
    (
        "SchemaRegistry directory",
        SchemaRegistry,
        WRONG,
        r"schema directory must be a path \(pathlib\.Path or str\)",
    ),
    (
        "document_from_proto body",
        lambda bad: document_from_proto(bad, jobs_pb2.JobEvent),
        [*WRONG, ""],
        r"protobuf body must be bytes",
    ),
    (
        "document_from_proto proto",
        lambda bad: document_from_proto(b"", bad),
        [*WRONG, jobs_pb2.JobEvent()],
        r"proto must be a generated protobuf message class",
    ),
    (
        "proto_from_document document",
        lambda bad: proto_from_document(bad, jobs_pb2.JobEvent),
        [None, 5, [], "{}"],
        r"document must be a JSON object for JobEvent",
    ),
    (
        "json_path",
        json_path,
        [None, 5, "a.b", [None], [1.5], [True]],
        r"JSON path parts? must be a (list of )?str keys? (and|or) (an )?int index",
    ),
    (
        "problems_of",
        problems_of,
        [None, ["not an error"]],
        r"error must be a jsonschema ValidationError",
    ),
]


@pytest.mark.parametrize(
    ("call", "bad", "accepted"),
    [
        pytest.param(call, bad, accepted, id=f"{name}-{type(bad).__name__}")
        for name, call, values, accepted in CASES
        for bad in values
    ],
)
def test_wrong_argument_is_refused_naming_what_is_accepted(
    call: Call, bad: Any, accepted: str
) -> None:
    with pytest.raises(InvalidInput, match=accepted):
        call(bad)


@pytest.mark.parametrize("field", ["max_bytes", "max_depth", "max_string_length", "max_items"])
@pytest.mark.parametrize("bad", [0, -1, "32", None, 2.5, True])
def test_limits_refuse_a_limit_that_is_not_a_positive_int(field: str, bad: Any) -> None:
    with pytest.raises(InvalidInput, match=rf"Limits\.{field} must be a positive int"):
        Limits(**{field: bad})


def test_a_bytearray_body_is_read_like_bytes() -> None:
    event = decode_document(bytearray(BODY), JSON, "JobEvent")

    assert event == EVENT
    assert parse_json(bytearray(BODY)) == EVENT
