"""Decoding messages: JSON and protobuf give the same, validated documents."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf import json_format
from message_documents import decode, protobuf
from pipelinejobs.errors import InvalidInput, MessageTooLarge, SchemaViolation
from pipelinejobs.messages import (
    MESSAGE_TYPES,
    Limits,
    decode_document,
    message_type,
    registry,
)
from pipelinejobs.messages.pb.pipelinejobs.v1 import agave_pb2, jobs_pb2

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
JOB = "1073f4ff-c2b9-5190-bd9a-e6a406d9796a"
TOKEN = "0dc73dc3ff39b49a"
FINISH = {"uuid": JOB, "name": "finish", "token": TOKEN}
CALLBACK = {
    "owner": "tacobot",
    "appId": "tacobot9000-0.1.0u1",
    "executionSystem": "hpc",
    "archivePath": "/products/v2/x",
    "archiveSystem": "data-tacc-cloud",
    "status": "FINISHED",
    "inputs": None,
    "parameters": {"n": 2},
    "_links": {"self": {"href": "https://x/jobs/1"}},
}


def as_json(document: Any) -> bytes:
    return json.dumps(document).encode()


def test_every_message_type_has_a_proto_and_a_schema() -> None:
    assert set(MESSAGE_TYPES) == {
        "PipelineCreate",
        "PipelineUpdate",
        "PipelineRetire",
        "JobCreate",
        "JobEvent",
        "AgaveJobCallback",
        "IndexRequest",
        "IndexedEvent",
        "AgavePipelineJob",
    }
    for name, kind in MESSAGE_TYPES.items():
        assert kind.name == name
        assert kind.proto.DESCRIPTOR.name == name
        assert kind.schema in registry().names()


@pytest.mark.parametrize(
    "name", ["JobEvent", "pipelinejobs.v1.JobEvent", "pipelinejob_manager_event"]
)
def test_message_type_by_name_proto_name_or_schema(name: str) -> None:
    assert message_type(name) is MESSAGE_TYPES["JobEvent"]


def test_unknown_message_type_lists_the_accepted_ones() -> None:
    with pytest.raises(InvalidInput, match=r"type 'Event' is unknown; accepted: .*JobEvent"):
        decode(as_json(FINISH), JSON, "Event")


def test_json_event_becomes_its_document() -> None:
    event = decode(as_json(FINISH), "application/json; charset=utf-8", "JobEvent")

    assert event == {"uuid": JOB, "name": "finish", "token": TOKEN}
    assert "data" not in event


def test_json_is_validated_against_its_schema() -> None:
    with pytest.raises(SchemaViolation, match=r"\$\.name: 'finished' is not one of"):
        decode(as_json(FINISH | {"name": "finished"}), JSON, "JobEvent")


def test_protobuf_goes_through_the_same_validation() -> None:
    wrong = jobs_pb2.JobEvent(uuid="not-a-job-uuid", name="finish").SerializeToString()

    with pytest.raises(SchemaViolation, match=r"\$\.uuid: 'not-a-job-uuid' does not match"):
        decode(wrong, PROTOBUF, "JobEvent")


def test_protobuf_missing_required_field_is_named() -> None:
    with pytest.raises(SchemaViolation, match=r"\$\.name: 'name' is a required property"):
        decode(jobs_pb2.JobEvent(uuid=JOB).SerializeToString(), PROTOBUF, "JobEvent")


def test_unknown_content_type_names_the_accepted_ones() -> None:
    with pytest.raises(
        InvalidInput,
        match="'text/csv' is not accepted; send application/json or application/x-protobuf",
    ):
        decode(b"uuid,name", "text/csv", "JobEvent")


def test_malformed_protobuf_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="not a valid protobuf JobEvent"):
        decode(b"\x0a\xff\xff\xff", PROTOBUF, "JobEvent")


def test_protobuf_fields_this_version_does_not_know_are_refused() -> None:
    body = jobs_pb2.JobEvent(uuid=JOB, name="run").SerializeToString() + b"\x78\x01"  # field 15

    with pytest.raises(InvalidInput, match="fields this version does not know; accepted: data"):
        decode(body, PROTOBUF, "JobEvent")


def test_protobuf_body_over_the_size_limit_is_refused() -> None:
    body = jobs_pb2.JobEvent(uuid=JOB, name="update", data={"note": "x" * 2000}).SerializeToString()

    with pytest.raises(MessageTooLarge, match="the limit is 1024 bytes"):
        decode(body, PROTOBUF, "JobEvent", Limits(max_bytes=1024))


def test_protobuf_document_is_checked_against_the_depth_limit() -> None:
    data: dict[str, Any] = {"leaf": 1}
    for _ in range(8):
        data = {"a": data}
    body = jobs_pb2.JobEvent(uuid=JOB, name="update", data=data).SerializeToString()

    with pytest.raises(MessageTooLarge, match="nesting deeper than the limit of 4"):
        decode(body, PROTOBUF, "JobEvent", Limits(max_depth=4))


def deep_event(depth: int) -> tuple[bytes, bytes]:
    """A JobEvent whose document nests ``depth`` levels, as protobuf and as JSON. Built level
    by level: json_format itself refuses to build anything this deep."""
    message = jobs_pb2.JobEvent(uuid=JOB, name="update")
    level = message.data
    level.SetInParent()
    data: dict[str, Any] = {}
    for _ in range(depth - 2):  # the event is level 1, its data level 2
        level = level.fields["a"].struct_value
        level.SetInParent()
        data = {"a": data}
    return message.SerializeToString(), as_json(FINISH | {"name": "update", "data": data})


@pytest.mark.parametrize("depth", [33, 40, 300])
def test_protobuf_nested_past_the_limit_is_refused_like_json_naming_the_limit(depth: int) -> None:
    body, text = deep_event(depth)
    expected = f"message nesting depth is {depth}; the limit is 32 levels"

    with pytest.raises(MessageTooLarge, match=r"nesting .*the limit (is|of) 32 levels"):
        decode(body, PROTOBUF, "JobEvent")
    with pytest.raises(MessageTooLarge) as from_json:
        decode(text, JSON, "JobEvent")

    assert str(from_json.value) == expected


def test_protobuf_too_deep_for_the_decoder_is_refused_with_its_depth() -> None:
    body, _ = deep_event(300)

    with pytest.raises(MessageTooLarge, match=r"^message nesting depth is 300; the limit is 32"):
        decode(body, PROTOBUF, "JobEvent")


def test_protobuf_too_deep_for_the_decoder_under_a_higher_limit_says_so() -> None:
    body, _ = deep_event(150)

    with pytest.raises(InvalidInput, match="nested deeper than the protobuf decoder accepts"):
        decode(body, PROTOBUF, "JobEvent", Limits(max_depth=200))


def test_protobuf_within_the_limit_still_decodes() -> None:
    body, _ = deep_event(32)

    event = decode(body, PROTOBUF, "JobEvent")

    assert event["name"] == "update"


def test_decode_document_gives_the_json_object_unvalidated() -> None:
    assert decode_document(b'{"arbitrary": "key value data"}', JSON) == {
        "arbitrary": "key value data"
    }


def test_decode_document_of_an_empty_body_is_an_empty_object() -> None:
    assert decode_document(b"", JSON, None) == {}
    assert decode_document(b" \n", JSON, "JobEvent") == {}


def test_decode_document_refuses_a_json_body_that_is_not_an_object() -> None:
    with pytest.raises(InvalidInput, match="must be a JSON object, not a JSON array"):
        decode_document(b'["finish"]', JSON)


def test_decode_document_of_protobuf_needs_the_message_type() -> None:
    body = jobs_pb2.JobEvent(uuid=JOB, name="run").SerializeToString()

    with pytest.raises(InvalidInput, match=r"needs its message type; accepted: .*JobEvent"):
        decode_document(body, PROTOBUF)
    assert decode_document(body, PROTOBUF, "JobEvent") == {"uuid": JOB, "name": "run"}


def test_proto3_json_mapping_of_a_message_is_the_documented_json() -> None:
    create = {
        "action": "create",
        "pipeline_uuid": "106bd127-e2d2-57ac-b9be-11ed06042e68",
        "sample_id": ["sample.tacc.abcde"],
        "archive_patterns": [{"level": "1", "patterns": ["output.txt$"]}],
        "instanced": False,
        "session": "",
    }
    message = jobs_pb2.JobCreate.FromString(protobuf(create, "JobCreate"))

    assert json_format.MessageToDict(message) == create


def test_empty_arrays_and_absent_arrays_stay_distinct() -> None:
    with_empty = decode(
        as_json({"name": "p", "components": [], "accepts": []}), JSON, "PipelineCreate"
    )
    without = decode(as_json({"name": "p", "components": []}), JSON, "PipelineCreate")

    assert decode(protobuf(with_empty, "PipelineCreate"), PROTOBUF, "PipelineCreate") == with_empty
    assert decode(protobuf(without, "PipelineCreate"), PROTOBUF, "PipelineCreate") == without
    assert with_empty != without


def test_integers_in_free_form_data_stay_integers_through_protobuf() -> None:
    event = decode(
        as_json(FINISH | {"data": {"quantity": 4, "ratio": 0.5, "n": [-3]}}), JSON, "JobEvent"
    )

    again = decode(protobuf(event, "JobEvent"), PROTOBUF, "JobEvent")

    assert again["data"] == {"quantity": 4, "ratio": 0.5, "n": [-3]}
    assert type(again["data"]["quantity"]) is int


def test_integral_floats_come_back_as_integers() -> None:
    event = decode(as_json(FINISH | {"data": {"x": 4.0}}), JSON, "JobEvent")

    again = decode(protobuf(event, "JobEvent"), PROTOBUF, "JobEvent")

    assert again["data"] == {"x": 4}
    assert type(again["data"]["x"]) is int


def test_integers_beyond_double_precision_are_refused_for_protobuf() -> None:
    event = decode(as_json(FINISH | {"data": {"big": 2**53 + 1}}), JSON, "JobEvent")

    with pytest.raises(InvalidInput, match=r"\$\.data\.big: integer 9007199254740993 cannot be"):
        protobuf(event, "JobEvent")
    assert event["data"]["big"] == 2**53 + 1


def test_callback_keeps_the_whole_job_record_through_protobuf() -> None:
    record = CALLBACK | {
        "id": "7381",
        "retries": 0,
        "endTime": None,
        "additional_properties": {"kept": "too"},
    }
    callback = decode(as_json(record), JSON, "AgaveJobCallback")

    again = decode(protobuf(callback, "AgaveJobCallback"), PROTOBUF, "AgaveJobCallback")

    assert again == callback
    assert again == record


def test_callback_property_given_twice_in_protobuf_is_refused() -> None:
    message = agave_pb2.AgaveJobCallback(owner="tacobot")
    message.additional_properties.update({"owner": "someone-else"})

    with pytest.raises(InvalidInput, match="'owner' both as a field and in additional_properties"):
        decode(message.SerializeToString(), PROTOBUF, "AgaveJobCallback")


def test_options_travel_under_their_json_name() -> None:
    update = decode(
        as_json(
            {
                "uuid": "1064aaf1-459c-5e42-820d-b822aa4b3990",
                "action": "update",
                "body": {},
                "token": "0df45d5e9e0f31e2",
                "__options": {"dry_run": True},
            }
        ),
        JSON,
        "PipelineUpdate",
    )

    assert update["__options"] == {"dry_run": True}
    assert decode(protobuf(update, "PipelineUpdate"), PROTOBUF, "PipelineUpdate") == update
