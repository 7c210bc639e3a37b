"""The JSON Schemas of every message, loaded from ``schemas/`` and resolved locally.

Each schema file is named after the last segment of its ``$id``; ``$ref`` values (relative, like
``pipelinejob_uuid.json``, or absolute) resolve by ``$id`` against those files only. A reference
to anything else is refused when the registry loads, never fetched over the network.

Whether a document fits a schema is asked of every message, often of several schemas in turn:
the answer comes from checks derived from each schema (``schema_checks``: a top-level outline
that rules most misfits out with dict lookups, and a validator of the schema with its ``$ref``
inlined). Problem lines always come from the validator of the schema as written.

The directory is looked up in this order (see ``schema_dir``): ``$PIPELINEJOBS_SCHEMAS_DIR``, the
source checkout's ``schemas/``, then the copy a wheel installs in ``share/pipelinejobs/schemas``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT7

from pipelinejobs.domain.checks import refused
from pipelinejobs.errors import InvalidInput, SchemaViolation
from pipelinejobs.messages.problems import problems_of
from pipelinejobs.messages.schema_checks import Outline, RecursiveSchema, inlined
from pipelinejobs.messages.schema_dir import SCHEMAS_DIR_ENV as SCHEMAS_DIR_ENV
from pipelinejobs.messages.schema_dir import schemas_dir as schemas_dir

SCHEMA_BASE_URL = "https://schema.catalog.sd2e.org/schemas/"


def _refuse_retrieval(uri: str) -> Resource[Any]:
    """Schemas never come from the network: an unknown ``$ref`` target is an error."""
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # attrs class mypy cannot see


class SchemaRegistry:
    """Every message schema by short name (``pipeline_manager_create``) and by ``$id``."""

    def __init__(self, directory: Path) -> None:
        if not isinstance(directory, str | os.PathLike):
            raise refused("schema directory", directory, "a path (pathlib.Path or str)")
        directory = Path(directory)
        self.directory = directory
        self._schemas = _load(directory)
        offline: Registry[Any] = Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]
        self._registry = offline.with_resources(
            (schema["$id"], DRAFT7.create_resource(schema)) for schema in self._schemas.values()
        )
        self._check_references()
        self._validators: dict[str, Any] = {
            name: Draft7Validator(
                schema,
                registry=self._registry,
                format_checker=Draft7Validator.FORMAT_CHECKER,
            )
            for name, schema in self._schemas.items()
        }
        self._fits = {name: self._fit(name) for name in self._schemas}

    def names(self) -> list[str]:
        """Short names of every schema, sorted."""
        return sorted(self._schemas)

    def schema(self, schema: str) -> Mapping[str, Any]:
        """The schema document named by short name, file name or ``$id``."""
        return self._schemas[self.short_name(schema)]

    def short_name(self, schema: str) -> str:
        """The short name of a schema given as short name, file name (``x.json``) or ``$id``."""
        if not isinstance(schema, str):
            known = ", ".join(self.names())
            raise refused("schema", schema, f"a schema name as a str; known schemas: {known}")
        name = schema.removeprefix(SCHEMA_BASE_URL).removesuffix(".json")
        if name not in self._schemas:
            raise InvalidInput(
                f"schema {schema!r} is unknown; known schemas: {', '.join(self.names())}"
            )
        return name

    def validate(self, document: Any, schema: str) -> None:
        """Raise ``SchemaViolation``, one problem per JSON path, when ``document`` breaks it."""
        name = self.short_name(schema)
        if self._fits[name].fits(document):
            return
        errors = list(self._validators[name].iter_errors(document))
        if errors:
            raise SchemaViolation(name, problems_of(errors))

    def is_valid(self, document: Any, schema: str) -> bool:
        """Whether ``document`` satisfies the schema (no details; see ``validate``)."""
        fit = self._fits.get(schema) if isinstance(schema, str) else None
        return (fit or self._fits[self.short_name(schema)]).fits(document)

    def _fit(self, name: str) -> _Fit:
        schema = self._schemas[name]
        try:
            flat = inlined(schema, self._registry.resolver(base_uri=schema["$id"]))
        except RecursiveSchema:
            return _Fit(Outline.of(schema), self._validators[name])
        validator = Draft7Validator(flat, format_checker=Draft7Validator.FORMAT_CHECKER)
        return _Fit(Outline.of(flat), validator)

    def _check_references(self) -> None:
        """Fail at load time, not on the first message, when a ``$ref`` points nowhere."""
        for name, schema in self._schemas.items():
            resolver = self._registry.resolver(base_uri=schema["$id"])
            for reference in _references(schema):
                try:
                    resolver.lookup(reference)
                except Unresolvable as exc:
                    raise InvalidInput(
                        f"schema {name}: $ref {reference!r} does not resolve to a local schema "
                        f"(schemas are never fetched over the network): {exc}"
                    ) from exc


@dataclass(frozen=True)
class _Fit:
    """Whether a document fits one schema, as cheaply as the schema allows."""

    outline: Outline
    validator: Any

    def fits(self, document: Any) -> bool:
        return not self.outline.rules_out(document) and bool(self.validator.is_valid(document))


def _load(directory: Path) -> dict[str, dict[str, Any]]:
    schemas: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"schema file {path} cannot be read as JSON: {exc}") from exc
        expected_id = SCHEMA_BASE_URL + path.name
        if not isinstance(schema, dict) or schema.get("$id") != expected_id:
            raise InvalidInput(f'schema file {path} must have "$id": {expected_id!r}')
        try:
            Draft7Validator.check_schema(schema)
        except SchemaError as exc:
            raise InvalidInput(
                f"schema file {path} is not a valid Draft-07 schema: {exc.message}"
            ) from exc
        schemas[path.stem] = schema
    if not schemas:
        raise InvalidInput(f"JSON Schema directory {directory} holds no *.json schema")
    return schemas


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


@cache
def _registry_for(directory: Path) -> SchemaRegistry:
    return SchemaRegistry(directory)


def registry() -> SchemaRegistry:
    """The schema registry of the configured directory, loaded once per directory.

    Every message asks for it (often twice), so the directory is looked up once per value of
    ``$PIPELINEJOBS_SCHEMAS_DIR``, not on every call: no filesystem check per message. Setting
    the variable to another value takes effect at the next call.
    """
    return _registry_configured_by(os.environ.get(SCHEMAS_DIR_ENV))


@cache
def _registry_configured_by(_configured: str | None) -> SchemaRegistry:
    """``_configured`` (the variable's value) is the cache key; ``schemas_dir`` reads it."""
    return _registry_for(schemas_dir())
