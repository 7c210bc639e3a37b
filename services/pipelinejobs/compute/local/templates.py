"""Command templates of local apps: argv lists with ``{placeholders}``, never a shell string.

Each template item becomes one argv item (or, for a whole-item ``{inputs[name]}``, one item
per staged file), so a parameter value such as ``"; rm -rf /"`` reaches the app as one argument
and no shell ever parses it. Placeholders are resolved by this module, not by ``str.format``:
only the names below are known, ``name[key]`` is the only lookup, and attribute access, format
specs and conversions are refused when the app is registered.

- ``{python}``: the interpreter running pipelinejobs; ``{app_dir}``: the folder holding the
  app's manifest; ``{outdir}``: the job's output folder (also the working directory);
  ``{job_id}``, ``{job_name}``;
- ``{parameters[name]}``: a parameter value (``true``/``false`` for booleans, compact JSON for
  lists and objects);
- ``{inputs[name]}``: the local path of the staged input file(s).
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipelinejobs.errors import InvalidInput

SCALAR_FIELDS = frozenset({"python", "app_dir", "outdir", "job_id", "job_name"})
KEYED_FIELDS = frozenset({"parameters", "inputs"})
_FIELD = re.compile(r"(?P<root>[a-z_]+)(?:\[(?P<key>[A-Za-z_][A-Za-z0-9_]*)\])?")
_ACCEPTED = (
    "{python}, {app_dir}, {outdir}, {job_id}, {job_name}, {parameters[name]} or {inputs[name]}"
)


@dataclass(frozen=True)
class Placeholder:
    """One ``{field}`` or ``{field[key]}`` of a template item."""

    root: str
    key: str | None = None

    def __str__(self) -> str:
        return f"{{{self.root}}}" if self.key is None else f"{{{self.root}[{self.key}]}}"


@dataclass(frozen=True)
class ArgumentTemplate:
    """One argv item: literal text and placeholders, in order."""

    text: str
    parts: tuple[str | Placeholder, ...]

    @property
    def placeholders(self) -> tuple[Placeholder, ...]:
        return tuple(part for part in self.parts if isinstance(part, Placeholder))

    @property
    def whole_input(self) -> str | None:
        """The input name when the item is exactly ``{inputs[name]}`` (it may expand)."""
        if len(self.parts) == 1 and isinstance(self.parts[0], Placeholder):
            only = self.parts[0]
            if only.root == "inputs":
                return only.key
        return None


@dataclass(frozen=True)
class CommandValues:
    """What the placeholders of one job resolve to."""

    python: str
    app_dir: str
    outdir: str
    job_id: str
    job_name: str
    parameters: Mapping[str, Any]
    inputs: Mapping[str, Sequence[str]]


def parse_command(command: Sequence[str]) -> tuple[ArgumentTemplate, ...]:
    """Parse every item of a manifest's ``command``; ``InvalidInput`` names the bad item."""
    if isinstance(command, str) or not command:
        raise InvalidInput(
            "command must be a non-empty list of argv items, e.g. "
            '["{python}", "{app_dir}/count.py", "{inputs[files]}"]; a shell string is not accepted'
        )
    return tuple(parse_argument(item, index) for index, item in enumerate(command))


def parse_argument(text: str, index: int = 0) -> ArgumentTemplate:
    if not isinstance(text, str):
        raise InvalidInput(f"command[{index}] must be a string, got a {type(text).__name__}")
    try:
        pieces = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise InvalidInput(
            f"command[{index}] {text!r} is not a valid template ({exc}); write a literal "
            "brace as {{ or }}"
        ) from None
    parts: list[str | Placeholder] = []
    for literal, field, spec, conversion in pieces:
        if literal:
            parts.append(literal)
        if field is None:
            continue
        if spec or conversion:
            raise InvalidInput(
                f"command[{index}] {text!r}: format specs and conversions are not accepted "
                f"in placeholder {{{field}}}; accepted placeholders: {_ACCEPTED}"
            )
        parts.append(_placeholder(field, text, index))
    return ArgumentTemplate(text=text, parts=tuple(parts))


def _placeholder(field: str, text: str, index: int) -> Placeholder:
    match = _FIELD.fullmatch(field)
    root = match["root"] if match else None
    key = match["key"] if match else None
    known = (root in SCALAR_FIELDS and key is None) or (root in KEYED_FIELDS and key is not None)
    if match is None or not known:
        raise InvalidInput(
            f"command[{index}] {text!r}: placeholder {{{field}}} is unknown; "
            f"accepted placeholders: {_ACCEPTED}"
        )
    assert root is not None
    return Placeholder(root, key)


def render_command(templates: Sequence[ArgumentTemplate], values: CommandValues) -> list[str]:
    """The argv of one job; ``InvalidInput`` when a value is missing or cannot be one item."""
    argv: list[str] = []
    for template in templates:
        name = template.whole_input
        if name is not None:
            argv.extend(str(path) for path in values.inputs.get(name, ()))
            continue
        argv.append("".join(_render_part(part, template, values) for part in template.parts))
    return argv


def _render_part(part: str | Placeholder, template: ArgumentTemplate, values: CommandValues) -> str:
    if isinstance(part, str):
        return part
    if part.root == "parameters":
        assert part.key is not None
        if part.key not in values.parameters:
            raise InvalidInput(
                f"parameters.{part.key} is required by the app's command ({template.text!r}); "
                "give it in the job's parameters (or the app can declare a default in its "
                "parameter schema)"
            )
        return argument_text(values.parameters[part.key], f"parameters.{part.key}")
    if part.root == "inputs":
        assert part.key is not None
        paths = list(values.inputs.get(part.key, ()))
        if len(paths) != 1:
            raise InvalidInput(
                f"inputs.{part.key} must name exactly one file for the app's command item "
                f"{template.text!r}, got {len(paths)}"
            )
        return str(paths[0])
    scalar: str = getattr(values, part.root)
    return scalar


def argument_text(value: Any, field: str) -> str:
    """A JSON value as one argv item: JSON spelling for booleans, null and containers."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool) or value is None or isinstance(value, list | dict):
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    elif isinstance(value, int | float):
        text = str(value)
    else:
        raise InvalidInput(f"{field} must be a JSON value, got a {type(value).__name__}")
    if "\x00" in text:
        raise InvalidInput(f"{field} contains a NUL character, which no argv item can hold")
    return text
