"""The app registry of the local execution system: one JSON manifest per app in a folder.

A command app::

    {"id": "wordcount-0.2.0", "version": "0.2.0",
     "inputs": {"files": {"description": "text files", "multiple": true}},
     "parameters": {"type": "object", "properties": {"min_length": {"type": "integer"}}},
     "command": ["{python}", "{app_dir}/count.py", "{parameters[min_length]}",
                 "{inputs[files]}"]}

A callable app names a Python function instead of ``parameters`` and ``command``; its parameter
schema is pydantic's schema of the function's signature (inputs excluded: they arrive as paths)::

    {"id": "tacobot9000-0.1.0u1", "version": "0.1.0u1",
     "inputs": {"file1": {"required": false}},
     "callable": "pipelinejobs.compute.apps.tacobot:make_tacos"}

Manifests are read again when their files change. A manifest that cannot be used is skipped
and its reason kept in :attr:`AppRegistry.problems` (and logged); it never stops the others.
A manifest names a program to run, so the apps folder must be writable by operators only.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

from jsonschema import Draft7Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]
from jsonschema.validators import validator_for  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from pipelinejobs.compute.local.definition import InputFile, JobRequest, parse_max_run_time
from pipelinejobs.compute.local.process import app_environment, spawn
from pipelinejobs.compute.local.templates import ArgumentTemplate, parse_command
from pipelinejobs.errors import InvalidInput
from pipelinejobs.logs import process_logger

RUN_CALLABLE = "pipelinejobs.compute.local.run_callable"
SCHEMA_TIMEOUT = 60.0
MAX_MANIFEST_BYTES = 256 * 1024
MAX_LISTED_PROBLEMS = 10
AppId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
InputName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
Target = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$")
]

_log = process_logger(component="local-execution")


class InputSpec(BaseModel):
    """One named input of an app: a file (or, with ``multiple``, several) staged before it runs."""

    model_config = ConfigDict(extra="forbid")
    description: str = ""
    required: bool = True
    multiple: bool = False


class _Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: AppId
    version: str = Field(min_length=1, max_length=64)
    description: str = ""
    inputs: dict[InputName, InputSpec] = Field(default_factory=dict)
    default_max_run_time: str | None = Field(default=None, alias="defaultMaxRunTime")


class CommandManifest(_Manifest):
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    command: list[str] = Field(min_length=1)


class CallableManifest(_Manifest):
    callable: Target


@dataclass(frozen=True)
class App:
    """A registered app, ready to validate and run jobs."""

    id: str
    version: str
    description: str
    kind: Literal["command", "callable"]
    inputs: Mapping[str, InputSpec]
    parameters_schema: Mapping[str, Any]
    app_dir: Path
    command: tuple[ArgumentTemplate, ...] = ()
    target: str | None = None
    default_max_run_time: str | None = None
    validator: Any = field(repr=False, compare=False, default=None)

    def describe(self) -> dict[str, Any]:
        """The app as a listing shows it (Agave-like)."""
        return {
            "id": self.id,
            "version": self.version,
            "description": self.description,
            "kind": self.kind,
            "inputs": {name: spec.model_dump() for name, spec in self.inputs.items()},
            "parameters": dict(self.parameters_schema),
            "defaultMaxRunTime": self.default_max_run_time,
        }

    def checked_inputs(self, request: JobRequest) -> dict[str, tuple[InputFile, ...]]:
        """The request's inputs, checked against the app's declared inputs."""
        unknown = sorted(set(request.inputs) - set(self.inputs))
        if unknown:
            accepted = ", ".join(sorted(self.inputs)) or "none"
            raise InvalidInput(
                f"inputs.{unknown[0]} is not an input of app {self.id}; its inputs: {accepted}"
            )
        for name, spec in self.inputs.items():
            files = request.inputs.get(name, ())
            if spec.required and not files:
                raise InvalidInput(
                    f"inputs.{name} is required by app {self.id}: give an agave:// URI"
                    + (" (or a list of them)" if spec.multiple else "")
                )
            if len(files) > 1 and not spec.multiple:
                raise InvalidInput(
                    f"inputs.{name} of app {self.id} takes one file, got {len(files)}"
                )
        return dict(request.inputs)

    def checked_parameters(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters with the schema's top-level defaults filled in, once valid."""
        values = dict(parameters)
        properties = self.parameters_schema.get("properties")
        if isinstance(properties, Mapping):
            for name, schema in properties.items():
                if isinstance(schema, Mapping) and "default" in schema:
                    values.setdefault(name, schema["default"])
        problems = sorted(
            self.validator.iter_errors(values), key=lambda error: list(error.absolute_path)
        )
        if problems:
            listed = "; ".join(_problem(error) for error in problems[:MAX_LISTED_PROBLEMS])
            raise InvalidInput(f"parameters of app {self.id} are not accepted: {listed}")
        return values


def _problem(error: Any) -> str:
    where = ".".join(str(part) for part in ["parameters", *error.absolute_path])
    return f"{where}: {error.message}"


class AppRegistry:
    """The apps in ``apps_dir/*.json``, reloaded when a manifest file changes."""

    def __init__(self, apps_dir: Path, *, python: str = sys.executable) -> None:
        self.apps_dir = Path(apps_dir)
        self.python = python
        self.problems: dict[str, str] = {}
        self._apps: dict[str, App] = {}
        self._loaded: dict[Path, tuple[tuple[int, int], App | str]] = {}
        self._lock = asyncio.Lock()

    async def get(self, app_id: str) -> App | None:
        await self.refresh()
        return self._apps.get(app_id)

    async def apps(self) -> list[App]:
        await self.refresh()
        return [self._apps[app_id] for app_id in sorted(self._apps)]

    async def refresh(self) -> None:
        """Read manifests that are new or changed since the last look; forget removed ones."""
        async with self._lock:
            found = await asyncio.to_thread(_manifest_files, self.apps_dir)
            loaded: dict[Path, tuple[tuple[int, int], App | str]] = {}
            for path, signature in found.items():
                cached = self._loaded.get(path)
                if cached is not None and cached[0] == signature:
                    loaded[path] = cached
                    continue
                loaded[path] = (signature, await self._load(path))
            self._loaded = loaded
            self._index()

    def _index(self) -> None:
        apps: dict[str, App] = {}
        problems: dict[str, str] = {}
        for path in sorted(self._loaded):
            outcome = self._loaded[path][1]
            if isinstance(outcome, str):
                problems[path.name] = outcome
            elif outcome.id in apps:
                problems[path.name] = (
                    f"app id {outcome.id!r} is already registered by another manifest; "
                    "app ids must be unique"
                )
            else:
                apps[outcome.id] = outcome
        self._apps, self.problems = apps, problems

    async def _load(self, path: Path) -> App | str:
        try:
            return await self._app(path)
        except (InvalidInput, OSError, ValueError) as exc:
            reason = str(exc)
            _log.warning("app manifest skipped", manifest=path.name, reason=reason)
            return reason

    async def _app(self, path: Path) -> App:
        raw = await asyncio.to_thread(_read_manifest, path)
        if not isinstance(raw, dict) or ("command" in raw) == ("callable" in raw):
            raise InvalidInput(
                f"manifest {path.name}: expected an object with either command (an argv "
                "template list) or callable (package.module:function)"
            )
        try:
            if "command" in raw:
                return _command_app(CommandManifest.model_validate(raw), path.parent)
            manifest = CallableManifest.model_validate(raw)
        except ValidationError as exc:
            raise InvalidInput(f"manifest {path.name}: {_pydantic_problems(exc)}") from None
        schema = await self._callable_schema(manifest)
        return _app_from(manifest, "callable", schema, path.parent, target=manifest.callable)

    async def _callable_schema(self, manifest: CallableManifest) -> dict[str, Any]:
        """Ask a subprocess for the function's parameter schema: the app's code never runs
        inside this process. Importing the app's module may start processes of its own, so the
        subprocess leads its own group, and the whole group is killed when it takes too long
        (or when this server dies, as an app's would be)."""
        started = await spawn(
            [
                self.python,
                "-m",
                RUN_CALLABLE,
                "--schema",
                manifest.callable,
                ",".join(manifest.inputs),
            ],
            cwd=self.apps_dir,
            env=app_environment(apps_dir=self.apps_dir),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        process = started.process
        try:
            out, err = await asyncio.wait_for(process.communicate(), SCHEMA_TIMEOUT)
        except TimeoutError:
            await started.kill()
            raise InvalidInput(
                f"callable {manifest.callable}: reading its signature took over "
                f"{SCHEMA_TIMEOUT:.0f} s"
            ) from None
        except BaseException:
            await started.kill()
            raise
        started.kill_group()
        started.release()
        if process.returncode != 0:
            reason = err.decode("utf-8", errors="replace").strip()[-1000:]
            raise InvalidInput(f"callable {manifest.callable} cannot be registered: {reason}")
        schema = json.loads(out)
        if not isinstance(schema, dict):
            raise InvalidInput(f"callable {manifest.callable}: its schema is not an object")
        return schema


def _command_app(manifest: CommandManifest, app_dir: Path) -> App:
    templates = parse_command(manifest.command)
    properties = manifest.parameters.get("properties")
    for template in templates:
        for placeholder in template.placeholders:
            if placeholder.root == "inputs" and placeholder.key not in manifest.inputs:
                raise InvalidInput(
                    f"command item {template.text!r} names input {placeholder.key!r}, "
                    f"which the app does not declare under inputs"
                )
            if (
                placeholder.root == "parameters"
                and isinstance(properties, Mapping)
                and placeholder.key not in properties
            ):
                raise InvalidInput(
                    f"command item {template.text!r} names parameter {placeholder.key!r}, "
                    "which the parameter schema does not declare under properties"
                )
    return _app_from(manifest, "command", manifest.parameters, app_dir, command=templates)


def _app_from(
    manifest: _Manifest,
    kind: Literal["command", "callable"],
    schema: dict[str, Any],
    app_dir: Path,
    *,
    command: tuple[ArgumentTemplate, ...] = (),
    target: str | None = None,
) -> App:
    if manifest.default_max_run_time is not None:
        parse_max_run_time(manifest.default_max_run_time, "defaultMaxRunTime")
    return App(
        id=manifest.id,
        version=manifest.version,
        description=manifest.description,
        kind=kind,
        inputs=MappingProxyType(dict(manifest.inputs)),
        parameters_schema=MappingProxyType(schema),
        app_dir=app_dir,
        command=command,
        target=target,
        default_max_run_time=manifest.default_max_run_time,
        validator=_validator(schema),
    )


def _validator(schema: dict[str, Any]) -> Any:
    """A validator for the app's parameter schema (Draft 7 unless it says otherwise)."""
    if schema.get("type", "object") != "object":
        raise InvalidInput('parameters must be a JSON Schema of an object ("type": "object")')
    cls = validator_for(schema, default=Draft7Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise InvalidInput(f"parameters is not a valid JSON Schema: {exc.message}") from None
    return cls(schema)


def _pydantic_problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'manifest'}: {error['msg']}"
        for error in exc.errors()[:MAX_LISTED_PROBLEMS]
    )


def _manifest_files(apps_dir: Path) -> dict[Path, tuple[int, int]]:
    if not apps_dir.is_dir():
        return {}
    found: dict[Path, tuple[int, int]] = {}
    for path in sorted(apps_dir.glob("*.json")):
        try:
            stat = path.stat()
        except OSError:
            continue
        if path.is_file():
            found[path] = (stat.st_mtime_ns, stat.st_size)
    return found


def _read_manifest(path: Path) -> Any:
    data = path.read_bytes()
    if len(data) > MAX_MANIFEST_BYTES:
        raise InvalidInput(
            f"manifest {path.name} is {len(data)} bytes; at most {MAX_MANIFEST_BYTES} accepted"
        )
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"manifest {path.name} is not JSON: {exc}") from None
