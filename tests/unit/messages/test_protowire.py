"""Reading the JSON nesting depth of a protobuf body from the wire, without decoding it."""

from __future__ import annotations

import json

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor_pb2 import FieldDescriptorProto as Field
from google.protobuf.message import Message
from pipelinejobs.messages.limits import nesting_depth
from pipelinejobs.messages.pb.pipelinejobs.v1 import agave_pb2, jobs_pb2, pipelines_pb2
from pipelinejobs.messages.protodocs import document_from_proto
from pipelinejobs.messages.protowire import json_depth

JOB = "1073f4ff-c2b9-5190-bd9a-e6a406d9796a"


def tagged_message_class() -> type[Message]:
    """``message Tagged { map<string, Tagged> tags = 1; repeated string names = 2;
    repeated Tagged children = 3; }``: maps and repeated fields, which our protos lack."""
    file = descriptor_pb2.FileDescriptorProto(name="tagged.proto", package="t", syntax="proto3")
    tagged = file.message_type.add(name="Tagged")
    entry = tagged.nested_type.add(name="TagsEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=Field.TYPE_STRING, label=Field.LABEL_OPTIONAL)
    entry.field.add(
        name="value", number=2, type=Field.TYPE_MESSAGE, type_name=".t.Tagged",
        label=Field.LABEL_OPTIONAL,
    )  # fmt: skip
    tagged.field.add(
        name="tags", number=1, type=Field.TYPE_MESSAGE, type_name=".t.Tagged.TagsEntry",
        label=Field.LABEL_REPEATED,
    )  # fmt: skip
    tagged.field.add(name="names", number=2, type=Field.TYPE_STRING, label=Field.LABEL_REPEATED)
    tagged.field.add(
        name="children", number=3, type=Field.TYPE_MESSAGE, type_name=".t.Tagged",
        label=Field.LABEL_REPEATED,
    )  # fmt: skip
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("t.Tagged"))


Tagged = tagged_message_class()


def document_depth(message: Message) -> int:
    """The depth of the document ``protodocs`` makes of ``message`` (extras spread)."""
    return nesting_depth(
        json.dumps(document_from_proto(message.SerializeToString(), type(message)))
    )


def tagged_examples() -> list[Message]:
    empty = Tagged()
    names = Tagged(names=["x", "y"])
    mapped = Tagged()
    mapped.tags["a"].tags["b"].names.append("x")  # type: ignore[attr-defined]
    children = Tagged()
    children.children.add().children.add().tags["c"].SetInParent()  # type: ignore[attr-defined]
    return [empty, names, mapped, children]


def our_examples() -> list[Message]:
    nested = jobs_pb2.JobEvent(uuid=JOB, name="update")
    json_format.ParseDict({"data": {"a": [{"b": [[], {}]}, 3], "c": {"d": None}}}, nested)
    listed = pipelines_pb2.PipelineCreate(name="p")
    json_format.ParseDict({"components": [{"id": "x", "opts": {"k": [1]}}]}, listed)
    callback = agave_pb2.AgaveJobCallback(owner="o")
    json_format.ParseDict({"inputs": [[["deep"]]], "additional_properties": {"x": {}}}, callback)
    spread = agave_pb2.AgaveJobCallback(owner="o")  # its extras are top-level properties
    json_format.ParseDict({"additional_properties": {"x": {"y": {}}, "z": 1}}, spread)
    return [jobs_pb2.JobEvent(uuid=JOB, name="run"), nested, listed, callback, spread]


@pytest.mark.parametrize("message", [*our_examples(), *tagged_examples()])
def test_depth_from_the_wire_is_the_depth_of_the_json_document(message: Message) -> None:
    assert json_depth(message.SerializeToString(), type(message)) == document_depth(message)


def test_the_depth_of_a_deeply_nested_struct_is_read_without_decoding_it() -> None:
    message = jobs_pb2.JobEvent(uuid=JOB, name="update")
    level = message.data
    for _ in range(5000):
        level = level.fields["a"].struct_value
    level.SetInParent()

    assert json_depth(message.SerializeToString(), jobs_pb2.JobEvent) == 5002


def test_fields_this_version_does_not_know_are_skipped() -> None:
    body = jobs_pb2.JobEvent(uuid=JOB).SerializeToString()
    unknown = b"\x78\x01" + b"\x82\x01\x02\x0a\x00" + b"\x85\x01\x00\x00\x00\x00"  # 15, 16, 16

    assert json_depth(body + unknown, jobs_pb2.JobEvent) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"\x0a\xff\xff\xff",  # field 1, length varint cut short
        b"\x0a\x05abc",  # field 1, 5 bytes announced, 3 sent
        b"\x08",  # field 1 as a varint with no value
        b"\x0b\x0c",  # a group (wire types 3 and 4)
        b"\x0e",  # wire type 6 does not exist
        b"\x1a\x03\x0a\x01",  # data: a Struct whose map entry is cut short
        b"\x19\x00\x00",  # fixed64 with 2 of its 8 bytes
        b"\x80" * 11,  # a varint longer than 10 bytes
    ],
)
def test_malformed_wire_format_has_no_depth(body: bytes) -> None:
    assert json_depth(body, jobs_pb2.JobEvent) is None
