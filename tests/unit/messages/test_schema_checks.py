"""The cheap checks of the registry give jsonschema's verdict, never another one.

``registry().is_valid`` answers from checks derived from each schema (an outline of its top
level, the schema with its ``$ref`` inlined); these tests hold them to the verdict of a
jsonschema validator of the schema as written, resolving references through the registry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator  # type: ignore[import-untyped]
from pipelinejobs.errors import SchemaViolation
from pipelinejobs.messages.schema_checks import Outline
from pipelinejobs.messages.schemas import SCHEMA_BASE_URL, SchemaRegistry, registry
from referencing import Registry
from referencing.jsonschema import DRAFT7
from test_documented_examples import EXAMPLES
from test_roundtrip_property import DOCUMENTS

WRONG_VALUES: tuple[Any, ...] = (None, 7, "x", "", [], {}, True, "1073f4ff-c2b9-5190-bd9a\n")


def verdicts(schemas: SchemaRegistry) -> dict[str, Draft7Validator]:
    """A validator per schema as written, its ``$ref`` resolved by jsonschema itself."""
    written = [schemas.schema(name) for name in schemas.names()]
    resolved: Registry[Any] = Registry().with_resources(  # type: ignore[call-arg]
        (schema["$id"], DRAFT7.create_resource(schema)) for schema in written
    )
    return {
        name: Draft7Validator(
            schemas.schema(name), registry=resolved, format_checker=Draft7Validator.FORMAT_CHECKER
        )
        for name in schemas.names()
    }


REFERENCE = verdicts(registry())


def variants(document: dict[str, Any], wrong: tuple[Any, ...] = WRONG_VALUES) -> list[Any]:
    """The document, each key dropped, an unknown key added, each value of the ``wrong`` kind,
    and renamed ``update`` as the jobs-manager's probe does."""
    found: list[Any] = [document, {**document, "unexpected": 1}, {**document, "name": "update"}]
    for key in document:
        found.append({k: v for k, v in document.items() if k != key})
        found.extend({**document, key: value} for value in wrong)
    return found


def assert_same_verdicts(document: Any) -> None:
    for name, reference in REFERENCE.items():
        expected = reference.is_valid(document)
        assert registry().is_valid(document, name) is expected, (name, document)
        if expected:
            registry().validate(document, name)
        else:
            with pytest.raises(SchemaViolation):
                registry().validate(document, name)


@pytest.mark.parametrize(("message_type", "document"), EXAMPLES.values(), ids=list(EXAMPLES))
def test_documented_examples_and_their_variants_get_jsonschemas_verdict(
    message_type: str, document: dict[str, Any]
) -> None:
    for variant in variants(document):
        assert_same_verdicts(variant)


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_messages_and_their_variants_get_jsonschemas_verdict(
    name: str, data: st.DataObject
) -> None:
    document = data.draw(DOCUMENTS[name], label="document")

    for variant in variants(document, wrong=(None,)):
        assert_same_verdicts(variant)


def write(directory: Path, name: str, schema: dict[str, Any]) -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_BASE_URL + f"{name}.json",
        **schema,
    }
    (directory / f"{name}.json").write_text(json.dumps(schema))


def test_a_schema_that_refers_to_itself_is_still_checked(tmp_path: Path) -> None:
    write(
        tmp_path,
        "tree",
        {
            "type": "object",
            "properties": {"children": {"type": "array", "items": {"$ref": "tree.json"}}},
            "required": ["name"],
        },
    )
    schemas = SchemaRegistry(tmp_path)

    assert schemas.is_valid({"name": "a", "children": [{"name": "b", "children": []}]}, "tree")
    assert not schemas.is_valid({"name": "a", "children": [{"children": []}]}, "tree")
    with pytest.raises(SchemaViolation, match=r"\$\.children\[0\]\.name: 'name' is a required"):
        schemas.validate({"name": "a", "children": [{}]}, "tree")


def test_ref_siblings_are_ignored_and_enum_data_is_not_a_reference(tmp_path: Path) -> None:
    """Draft-07 ignores the keywords beside ``$ref``; an enum value that looks like a
    reference is data, compared as it is."""
    write(tmp_path, "text", {"type": "string"})
    write(
        tmp_path,
        "holder",
        {
            "type": "object",
            "properties": {
                "value": {"$ref": "text.json", "type": "integer"},
                "marker": {"enum": [{"$ref": "text.json"}]},
            },
        },
    )
    schemas = SchemaRegistry(tmp_path)
    reference = verdicts(schemas)["holder"]

    for document in (
        {"value": "s"},
        {"value": 3},
        {"marker": {"$ref": "text.json"}},
        {"marker": "s"},
    ):
        assert schemas.is_valid(document, "holder") is reference.is_valid(document), document


def test_the_outline_rules_out_only_what_the_schema_refuses() -> None:
    outline = Outline.of(registry().schema("pipelinejob_manager_event"))

    assert outline.rules_out([])
    assert outline.rules_out({"uuid": "1073f4ff-c2b9-5190-bd9a-e6a406d9796a"})
    assert outline.rules_out({"uuid": "u", "name": "run", "state": "RUNNING"})
    assert not outline.rules_out({"uuid": "u", "name": "run"})  # the validator refuses it
    open_by_pattern = {"additionalProperties": False, "patternProperties": {"^x": {}}}
    assert not Outline.of(open_by_pattern).rules_out({"xy": 1})
    assert not Outline.of({"$ref": "other.json", "required": ["a"]}).rules_out({})
