"""The schema registry: one file per $id, local $ref resolution, readable problems."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from pipelinejobs.errors import InvalidInput, SchemaViolation
from pipelinejobs.messages.schemas import (
    SCHEMA_BASE_URL,
    SCHEMAS_DIR_ENV,
    SchemaRegistry,
    registry,
    schemas_dir,
)

EVENT = {"uuid": "1073f4ff-c2b9-5190-bd9a-e6a406d9796a", "name": "finish"}
DOCUMENTED_SCHEMAS = {
    "pipeline_manager_create",
    "pipeline_manager_update",
    "pipelinejob_manager_event",
    "agave_job_callback",
    "pipelinejob_index",
    "pipelinejob_indexed",
    "agave_pipelinejob",
    "pipelinejob_uuid",
    "pipeline_uuid",
    "pipelinejob_event_uuid",
    "pipelinejob_eventname",
    "pipelinejob_statename",
    "update_token",
    "processing_level",
    "agave_files_uri",
    "experiment_reference",
    "pipeline_manager_retire",
    "pipelinejob_create",
}


def problems(document: Any, schema: str) -> list[str]:
    with pytest.raises(SchemaViolation) as caught:
        registry().validate(document, schema)
    assert caught.value.schema == schema
    return caught.value.problems


def test_every_schema_file_is_named_after_its_id() -> None:
    for path in schemas_dir().glob("*.json"):
        schema = json.loads(path.read_text())
        assert schema["$id"] == SCHEMA_BASE_URL + path.name
        assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"


def test_registry_holds_every_documented_schema() -> None:
    assert set(registry().names()) >= DOCUMENTED_SCHEMAS
    assert registry().names() == sorted(registry().names())


def test_event_names_and_levels_are_the_documented_enumerations() -> None:
    events = registry().schema("pipelinejob_eventname")["enum"]
    assert len(events) == 15
    assert "ready" in events
    assert "reset" in events
    assert registry().schema("processing_level")["enum"] == [
        "0",
        "1",
        "2",
        "3",
        "Reference",
        "User",
        "Unknown",
    ]


@pytest.mark.parametrize(
    "name",
    [
        "pipelinejob_manager_event",
        "pipelinejob_manager_event.json",
        SCHEMA_BASE_URL + "pipelinejob_manager_event.json",
    ],
)
def test_schema_is_found_by_short_name_file_name_or_id(name: str) -> None:
    registry().validate(EVENT, name)
    assert registry().is_valid(EVENT, name)


def test_unknown_schema_name_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match=r"known schemas: .*pipelinejob_manager_event"):
        registry().validate(EVENT, "pipelinejob_event")


def test_missing_property_is_named_by_its_path() -> None:
    document = {"name": "Tacobot", "components": [{"opts": {}}]}

    [problem] = problems(document, "pipeline_manager_create")

    assert problem.startswith("$.components[0]: ")
    assert ".id: 'id' is a required property" in problem
    assert "generic_component" in problem


def test_required_properties_at_the_top_are_named_one_per_line() -> None:
    assert problems({}, "pipelinejob_manager_event") == [
        "$.name: 'name' is a required property",
        "$.uuid: 'uuid' is a required property",
    ]


def test_unexpected_property_is_named_with_the_accepted_ones() -> None:
    assert problems(EVENT | {"state": "RUNNING"}, "pipelinejob_manager_event") == [
        "$.state: property 'state' is not allowed; accepted: data, name, token, uuid"
    ]


def test_problems_through_refs_name_the_path_and_what_is_accepted() -> None:
    document = {"uuid": "1063f4ff-c2b9-5190-bd9a-e6a406d9796a", "name": "finished", "token": "0dc7"}

    lines = problems(document, "pipelinejob_manager_event")

    assert [line.split(":")[0] for line in lines] == ["$.name", "$.token", "$.uuid"]
    assert "'finished' is not one of ['create'" in lines[0]
    assert "(minLength 16)" in lines[1]
    assert "107[0-9a-f]{5}" in lines[2]


def test_one_of_problems_show_only_the_forms_that_came_close() -> None:
    document = {"job_definition": {}, "parameters": {"sample_id": ["sample.tacc.1", 3]}}

    [problem] = problems(document, "agave_pipelinejob")

    assert problem.startswith("$.parameters.sample_id: ")
    assert "array: [1]: 3 matches none of the accepted forms" in problem
    assert "sample_ref" not in problem


@pytest.mark.parametrize("uri", ["not a uri", "example.org/tacobot", "http://exa mple.org/", ""])
def test_a_service_uri_that_is_not_a_uri_is_refused_at_its_path(uri: str) -> None:
    document = {"name": "Tacobot", "components": [{"id": "tacobot"}, {"uri": uri}]}

    [problem] = problems(document, "pipeline_manager_create")

    assert problem.startswith("$.components[1]: ")
    assert f"service: .uri: {uri!r} is not a 'uri'" in problem


@pytest.mark.parametrize(
    "uri", ["https://example.org/tacobot", "urn:isbn:0451450523", "s3://bucket/key?v=1#frag"]
)
def test_a_service_uri_that_is_a_uri_is_accepted(uri: str) -> None:
    document = {"name": "Tacobot", "components": [{"uri": uri}]}

    registry().validate(document, "pipeline_manager_create")


def test_agave_callback_keeps_unknown_properties_open() -> None:
    callback = {
        "owner": "o",
        "appId": "a",
        "executionSystem": "e",
        "archivePath": "/p",
        "archiveSystem": "s",
        "status": "FINISHED",
        "inputs": {},
        "parameters": {},
        "_links": {},
        "id": "123",
        "retries": 0,
    }
    registry().validate(callback, "agave_job_callback")


def test_uuid_patterns_are_anchored() -> None:
    assert not registry().is_valid(
        {"uuid": "1073f4ff-c2b9-5190-bd9a-e6a406d9796a-and-more", "name": "run"},
        "pipelinejob_manager_event",
    )


def test_refs_resolve_without_touching_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("schema resolution tried the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    fresh = SchemaRegistry(schemas_dir())

    for name in fresh.names():
        fresh.is_valid({}, name)
    fresh.validate(
        {"job_definition": {}, "parameters": {"experiment_design_id": "Unknown"}},
        "agave_pipelinejob",
    )


def test_ref_to_an_unknown_schema_is_refused_at_load_not_fetched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched: list[Any] = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: fetched.append(a))
    (tmp_path / "remote_ref.json").write_text(
        json.dumps(
            {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "$id": SCHEMA_BASE_URL + "remote_ref.json",
                "properties": {"uuid": {"$ref": "https://example.org/schemas/uuid.json"}},
            }
        )
    )

    with pytest.raises(InvalidInput, match=r"example\.org/schemas/uuid\.json.*never fetched"):
        SchemaRegistry(tmp_path)
    assert fetched == []


def test_file_whose_name_differs_from_its_id_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"$id": SCHEMA_BASE_URL + "b.json"}))

    with pytest.raises(InvalidInput, match='must have "\\$id"'):
        SchemaRegistry(tmp_path)


def test_missing_schema_directory_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SCHEMAS_DIR_ENV, str(tmp_path / "nowhere"))

    with pytest.raises(InvalidInput, match=f"set {SCHEMAS_DIR_ENV}"):
        schemas_dir()


def test_schema_directory_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SCHEMAS_DIR_ENV, str(tmp_path))
    assert schemas_dir() == tmp_path


def test_the_registry_is_not_looked_up_again_for_each_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every message asks for the registry; the directory lookup (a filesystem check) is done
    once per value of the variable, not per call."""
    monkeypatch.delenv(SCHEMAS_DIR_ENV, raising=False)
    loaded = registry()

    def looked_up_again() -> Path:
        raise AssertionError("the schema directory was looked up again")

    monkeypatch.setattr("pipelinejobs.messages.schemas.schemas_dir", looked_up_again)

    assert registry() is loaded
    assert registry().is_valid(EVENT, "pipelinejob_manager_event")


def test_a_changed_schema_directory_variable_takes_effect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SCHEMAS_DIR_ENV, raising=False)
    source = registry().directory
    for path in source.glob("*.json"):
        (tmp_path / path.name).write_text(path.read_text())
    monkeypatch.setenv(SCHEMAS_DIR_ENV, str(tmp_path))

    assert registry().directory == tmp_path
