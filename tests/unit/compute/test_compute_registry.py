"""The app registry: command-app manifests from a folder, parameters checked by JSON Schema."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from pipelinejobs.compute.apps import EXAMPLE_MANIFESTS, WORDCOUNT_ID, install_example_apps
from pipelinejobs.compute.local.definition import parse_job_definition
from pipelinejobs.compute.local.registry import AppRegistry
from pipelinejobs.errors import InvalidInput

ECHO: dict[str, Any] = {
    "id": "echo-1.0",
    "version": "1.0",
    "inputs": {"text": {"required": False}},
    "parameters": {
        "type": "object",
        "properties": {"words": {"type": "array", "items": {"type": "string"}, "maxItems": 3}},
        "required": ["words"],
    },
    "command": ["{python}", "{app_dir}/echo.py", "{parameters[words]}"],
}


def install_wordcount(apps_dir: Path) -> None:
    """Only the command example: a callable app would start a subprocess to read its schema."""
    write(apps_dir, "wordcount.json", EXAMPLE_MANIFESTS["wordcount.json"])


def write(apps_dir: Path, name: str, manifest: Any) -> Path:
    apps_dir.mkdir(parents=True, exist_ok=True)
    path = apps_dir / name
    path.write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    return path


async def test_command_apps_are_registered_from_their_manifests(tmp_path: Path) -> None:
    write(tmp_path, "echo.json", ECHO)
    registry = AppRegistry(tmp_path)
    app = await registry.get("echo-1.0")
    assert app is not None
    assert (app.kind, app.app_dir, set(app.inputs)) == ("command", tmp_path, {"text"})
    assert await registry.get("nope-1.0") is None
    assert registry.problems == {}


async def test_parameters_are_checked_against_the_schema_with_paths(tmp_path: Path) -> None:
    write(tmp_path, "echo.json", ECHO)
    app = await AppRegistry(tmp_path).get("echo-1.0")
    assert app is not None
    assert app.checked_parameters({"words": ["a"]}) == {"words": ["a"]}
    with pytest.raises(InvalidInput, match=r"parameters\.words\.1: 2 is not of type 'string'"):
        app.checked_parameters({"words": ["a", 2]})
    with pytest.raises(InvalidInput, match="'words' is a required property"):
        app.checked_parameters({})


async def test_schema_defaults_are_filled_in(tmp_path: Path) -> None:
    install_wordcount(tmp_path)
    app = await AppRegistry(tmp_path).get(WORDCOUNT_ID)
    assert app is not None
    assert app.checked_parameters({"min_length": 3}) == {
        "min_length": 3,
        "lowercase": True,
        "strict": False,
    }
    with pytest.raises(InvalidInput, match=r"parameters\.min_length: 0 is less than the minimum"):
        app.checked_parameters({"min_length": 0})


async def test_inputs_are_checked_against_the_declared_ones(tmp_path: Path) -> None:
    install_wordcount(tmp_path)
    app = await AppRegistry(tmp_path).get(WORDCOUNT_ID)
    assert app is not None

    def inputs(value: Any) -> Any:
        return app.checked_inputs(parse_job_definition({"appId": WORDCOUNT_ID, "inputs": value}))

    assert len(inputs({"files": ["agave://s/a.txt", "agave://s/b.txt"]})["files"]) == 2
    with pytest.raises(InvalidInput, match=r"inputs\.files is required"):
        inputs({})
    with pytest.raises(
        InvalidInput, match=r"inputs\.text is not an input of app .*its inputs: files"
    ):
        inputs({"files": "agave://s/a.txt", "text": "agave://s/b.txt"})


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        ("{not json", "not JSON"),
        ({**ECHO, "command": "python3 echo.py"}, "command"),
        ({**ECHO, "command": ["{python}", "{parameters[nope]}"]}, "parameter 'nope'"),
        ({**ECHO, "command": ["{python}", "{inputs[nope]}"]}, "input 'nope'"),
        ({**ECHO, "command": ["{python}", "{env}"]}, "placeholder {env} is unknown"),
        ({**ECHO, "parameters": {"type": "integer"}}, '"type": "object"'),
        ({**ECHO, "parameters": {"type": "object", "properties": 3}}, "not a valid JSON Schema"),
        ({**ECHO, "id": "../evil"}, "id"),
        ({**ECHO, "callable": "x:y"}, "either command"),
        ({**ECHO, "defaultMaxRunTime": "forever"}, "defaultMaxRunTime"),
        ({**ECHO, "surprise": 1}, "surprise"),
    ],
)
async def test_a_broken_manifest_is_skipped_with_its_reason(
    tmp_path: Path, manifest: Any, problem: str
) -> None:
    install_wordcount(tmp_path)
    write(tmp_path, "broken.json", manifest)
    registry = AppRegistry(tmp_path)
    apps = [app.id for app in await registry.apps()]
    assert WORDCOUNT_ID in apps
    assert "broken.json" in registry.problems
    assert problem in registry.problems["broken.json"]


async def test_a_duplicate_app_id_keeps_the_first_manifest(tmp_path: Path) -> None:
    write(tmp_path, "a.json", ECHO)
    write(tmp_path, "b.json", {**ECHO, "version": "2.0"})
    registry = AppRegistry(tmp_path)
    app = await registry.get("echo-1.0")
    assert app is not None
    assert app.version == "1.0"
    assert "already registered" in registry.problems["b.json"]


async def test_manifests_are_read_again_when_they_change(tmp_path: Path) -> None:
    registry = AppRegistry(tmp_path / "apps")
    assert await registry.apps() == []
    path = write(tmp_path / "apps", "echo.json", ECHO)
    assert (await registry.get("echo-1.0")) is not None
    path.write_text(json.dumps({**ECHO, "version": "1.1", "description": "changed"}))
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse clocks
    app = await registry.get("echo-1.0")
    assert app is not None
    assert app.version == "1.1"
    path.unlink()
    assert await registry.get("echo-1.0") is None


def test_the_example_manifests_are_written_once(tmp_path: Path) -> None:
    paths = install_example_apps(tmp_path)
    assert sorted(p.name for p in paths) == sorted(EXAMPLE_MANIFESTS)
    before = [p.stat().st_mtime_ns for p in paths]
    os.utime(paths[0], ns=(5, 5))
    install_example_apps(tmp_path)
    assert paths[0].stat().st_mtime_ns == 5  # unchanged content is not rewritten
    assert [p.stat().st_mtime_ns for p in paths[1:]] == before[1:]
