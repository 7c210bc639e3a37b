"""Cheap checks derived from a schema, for the yes/no question asked of every message.

An actor tries a message against several schemas to find its form (the jobs-manager: compute
callback, event, index request), and most tries fail. jsonschema answers each in tens of
microseconds, most of it following ``$ref`` through the registry. Two things derived from the
schema itself, never written by hand beside it, make the answer cheap without changing it:

- :class:`Outline`: what the schema's top level says a dict lookup can check (an object, these
  required keys, no key outside ``properties``). A document it rules out is invalid, because
  the keywords of a schema object must all hold; one it admits still goes to the validator.
- :func:`inlined`: the schema with every ``$ref`` replaced by its target, so the validator
  never resolves a reference. Draft-07 ignores the siblings of ``$ref``, and so does the
  replacement. A schema that refers to itself, directly or not, cannot be inlined.

jsonschema stays the reference: problem lines always come from the registry's validator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from referencing.jsonschema import DRAFT7

_ONE_SCHEMA = frozenset(
    {
        "additionalItems",
        "additionalProperties",
        "contains",
        "propertyNames",
        "items",
        "not",
        "if",
        "then",
        "else",
    }
)
"""Draft-07 keywords whose value is a subschema (``items`` may also be a list of them)."""
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "items"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependencies"})
"""Keywords mapping names to subschemas (a ``dependencies`` value may also list names)."""
_DROPPED = frozenset({"$id", "$schema", "definitions"})
"""Only references need these, and an inlined schema has none left."""


class RecursiveSchema(Exception):
    """The schema refers to itself: it has no finite inlined form."""


def inlined(schema: Any, resolver: Any) -> Any:
    """``schema`` with every ``$ref`` replaced by its target, resolved from ``resolver``'s base
    URI; raises :class:`RecursiveSchema` for a schema that refers to itself."""
    return _inline(schema, resolver, (id(schema),))


def _inline(schema: Any, resolver: Any, expanding: tuple[int, ...]) -> Any:
    """``expanding``: the schemas being inlined around this one (a reference back to one of
    them would never end)."""
    if not isinstance(schema, dict):
        return schema  # a boolean schema
    if isinstance(schema.get("$ref"), str):
        target = resolver.lookup(schema["$ref"])
        if id(target.contents) in expanding:
            raise RecursiveSchema(schema["$ref"])
        return _inline(target.contents, target.resolver, (*expanding, id(target.contents)))
    resolver = resolver.in_subresource(DRAFT7.create_resource(schema))
    copy: dict[str, Any] = {}
    for keyword, value in schema.items():
        if keyword in _DROPPED:
            continue
        if keyword in _SCHEMA_LISTS and isinstance(value, list):
            copy[keyword] = [_inline(item, resolver, expanding) for item in value]
        elif keyword in _ONE_SCHEMA:
            copy[keyword] = _inline(value, resolver, expanding)
        elif keyword in _SCHEMA_MAPS and isinstance(value, dict):
            copy[keyword] = {
                name: _inline(item, resolver, expanding) for name, item in value.items()
            }
        else:
            copy[keyword] = value  # data (enum, const, examples...) or an assertion's argument
    return copy


@dataclass(frozen=True)
class Outline:
    """The part of a schema's top level that needs no validator: the document must be an
    object (``type: object``), hold the ``required`` keys and, with ``additionalProperties:
    false`` and no ``patternProperties``, no key outside ``properties``."""

    object_only: bool = False
    required: frozenset[str] = frozenset()
    allowed: frozenset[str] | None = None

    @classmethod
    def of(cls, schema: Any) -> Outline:
        """The outline of a schema (with no ``$ref`` at its top: Draft-07 would ignore the rest
        of it); an empty outline, which rules nothing out, for any other."""
        if not isinstance(schema, Mapping) or "$ref" in schema:
            return cls()
        properties = schema.get("properties", {})
        closed = schema.get("additionalProperties") is False and "patternProperties" not in schema
        return cls(
            object_only=schema.get("type") == "object",
            required=frozenset(schema.get("required", ())),
            allowed=frozenset(properties) if closed and isinstance(properties, Mapping) else None,
        )

    def rules_out(self, document: Any) -> bool:
        """Whether ``document`` certainly breaks the schema (False: the validator decides)."""
        if not isinstance(document, dict):
            return self.object_only
        if not document.keys() >= self.required:
            return True
        return self.allowed is not None and not self.allowed.issuperset(document)
