"""Property: JSON -> document -> protobuf -> document gives an equal document, for every
message type."""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from message_documents import decode, protobuf
from pipelinejobs.messages import MESSAGE_TYPES, registry
from pipelinejobs.messages.limits import nesting_depth
from pipelinejobs.messages.protowire import json_depth

HEX = "0123456789abcdef"
EVENTS = registry().schema("pipelinejob_eventname")["enum"]
LEVELS = registry().schema("processing_level")["enum"]
DESIGNS = registry().schema("experiment_reference")["enum"]
PIPELINE_TYPES = ["generic-process", "data-transfer", "metadata-management", "primary-etl"]
COLLECTIONS = ["reference", "experiment", "sample", "measurement", "file", "job", "product"]
CALLBACK_FIELDS = {"owner", "appId", "executionSystem", "archivePath", "archiveSystem", "status"}
LINKAGE_FIELDS = ("experiment_design_id", "experiment_id", "sample_id", "measurement_id")


def hex_digits(count: int) -> st.SearchStrategy[str]:
    return st.text(HEX, min_size=count, max_size=count)


def typed_uuid(prefix: str) -> st.SearchStrategy[str]:
    parts = st.tuples(hex_digits(5), hex_digits(4), hex_digits(4), hex_digits(4), hex_digits(12))
    return parts.map(lambda p: f"{prefix}{p[0]}-{p[1]}-{p[2]}-{p[3]}-{p[4]}")


tokens = hex_digits(16)
texts = st.text(max_size=12)
numbers = st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False).filter(
    lambda x: not x.is_integer()  # integral floats come back as ints: see test_codec
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(texts, json_values, max_size=5)
optional = st.fixed_dictionaries


def readable_id(kind: str) -> st.SearchStrategy[str]:
    word = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=8)
    local = st.text(string.ascii_letters + string.digits + ".", min_size=1, max_size=8)
    return st.tuples(word, local).map(lambda p: f"{kind}.{p[0]}.{p[1]}")


def one_or_many(single: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return single | st.lists(single, min_size=1, max_size=3)


linkage = {
    "experiment_design_id": one_or_many(st.sampled_from(DESIGNS) | typed_uuid("114")),
    "experiment_id": one_or_many(readable_id("experiment") | typed_uuid("102")),
    "sample_id": one_or_many(readable_id("sample") | typed_uuid("103")),
    "measurement_id": one_or_many(readable_id("measurement") | typed_uuid("104")),
}
components = st.one_of(
    optional({"id": texts}, optional={"opts": json_objects, "parameters": json_objects}),
    optional(
        {"uri": st.sampled_from(["https://example.org/tacobot", "urn:isbn:0451450523"])},
        optional={"identifier": texts, "options": json_objects},
    ),
    optional({"repo": texts}, optional={"hash": texts, "options": json_objects}),
)
agave_parameters = st.tuples(
    st.sampled_from(LINKAGE_FIELDS).flatmap(lambda field: optional({field: linkage[field]})),
    optional({}, optional=linkage),
    st.dictionaries(texts.filter(lambda key: key not in LINKAGE_FIELDS), json_values, max_size=3),
).map(lambda parts: parts[2] | parts[1] | parts[0])

DOCUMENTS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "PipelineCreate": optional(
        {"name": texts, "components": st.lists(components, max_size=3)},
        optional={
            "description": texts,
            "collections_levels": st.lists(st.sampled_from(COLLECTIONS), max_size=3),
            "processing_levels": st.lists(st.sampled_from(["0", "1", "2", "3"]), max_size=3),
            "pipeline_type": st.sampled_from(PIPELINE_TYPES)
            | st.lists(st.sampled_from(PIPELINE_TYPES), max_size=2),
            "accepts": st.lists(texts, max_size=3),
            "produces": st.lists(texts, max_size=3),
            "__options": json_objects,
        },
    ),
    "PipelineUpdate": optional(
        {"uuid": texts, "action": st.just("update"), "body": json_objects, "token": tokens},
        optional={"__options": json_objects},
    ),
    "PipelineRetire": optional(
        {"uuid": typed_uuid("106"), "action": st.just("retire"), "token": tokens},
        optional={"__options": json_objects},
    ),
    "JobCreate": optional(
        {"action": st.just("create"), "pipeline_uuid": typed_uuid("106")},
        optional={
            "data": json_objects,
            **linkage,
            "archive_path": texts.map(lambda path: "/" + path),
            "archive_system": st.text(min_size=1, max_size=12),
            "instanced": st.booleans(),
            "archive_patterns": st.lists(
                optional({"level": st.sampled_from(LEVELS), "patterns": st.lists(texts)}),
                max_size=2,
            ),
            "session": texts,
            "agent": texts,
            "task": texts,
        },
    ),
    "JobEvent": optional(
        {"uuid": typed_uuid("107"), "name": st.sampled_from(EVENTS)},
        optional={"data": json_objects, "token": tokens},
    ),
    "AgaveJobCallback": st.tuples(
        optional(
            {field: texts for field in CALLBACK_FIELDS}
            | {"inputs": json_values, "parameters": json_values, "_links": json_values}
        ),
        st.dictionaries(
            texts.filter(
                lambda key: key not in CALLBACK_FIELDS | {"inputs", "parameters", "_links"}
            ),
            json_values,
            max_size=4,
        ),
    ).map(lambda parts: parts[1] | parts[0]),
    "IndexRequest": optional(
        {"uuid": typed_uuid("107"), "name": st.just("index")},
        optional={
            "filters": st.lists(texts, max_size=3),
            "level": st.sampled_from(LEVELS),
            "token": tokens,
        },
    ),
    "IndexedEvent": optional(
        {"uuid": typed_uuid("107"), "name": st.just("indexed")}, optional={"token": tokens}
    ),
    "AgavePipelineJob": optional(
        {"parameters": agave_parameters, "job_definition": json_objects},
        optional={
            "archive_path": texts.map(lambda path: "agave://" + path),
            "instanced": st.booleans(),
            "data": json_objects,
            "index_patterns": st.lists(texts, max_size=3),
            "processing_level": st.sampled_from(LEVELS),
        },
    ),
}


def exact(document: Any) -> str:
    """Equal only when keys, values and number types (1 vs 1.0) all agree."""
    return json.dumps(document, sort_keys=True)


def test_a_strategy_covers_every_message_type() -> None:
    assert set(DOCUMENTS) == set(MESSAGE_TYPES)


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_json_and_protobuf_give_the_same_document(name: str, data: st.DataObject) -> None:
    document = data.draw(DOCUMENTS[name], label="document")

    from_json = decode(json.dumps(document).encode(), "application/json", name)
    from_protobuf = decode(protobuf(from_json, name), "application/x-protobuf", name)

    assert from_protobuf == from_json
    assert exact(from_protobuf) == exact(document)


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_depth_read_from_the_wire_is_the_depth_of_the_document(
    name: str, data: st.DataObject
) -> None:
    document = data.draw(DOCUMENTS[name], label="document")
    body = protobuf(decode(json.dumps(document).encode(), "application/json", name), name)

    assert json_depth(body, MESSAGE_TYPES[name].proto) == nesting_depth(json.dumps(document))
