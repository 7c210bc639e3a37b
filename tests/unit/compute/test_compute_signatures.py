"""The parameter schema of a callable app comes from its type annotations (pydantic)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
from pipelinejobs.compute.apps.tacobot import make_tacos
from pipelinejobs.compute.local.signatures import (
    load_target,
    parameters_model,
    parameters_schema,
)
from pydantic import Field, ValidationError


def test_the_tacobot_schema_follows_its_signature() -> None:
    schema = parameters_schema(make_tacos, exclude={"file1"})
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {"salsa", "cheese", "avocado", "quantity"}
    assert schema["required"] == ["salsa", "cheese"]
    assert schema["properties"]["salsa"]["type"] == "boolean"
    quantity = schema["properties"]["quantity"]
    assert (quantity["type"], quantity["default"], quantity["minimum"], quantity["maximum"]) == (
        "integer",
        1,
        1,
        100,
    )
    assert schema["additionalProperties"] is False


def test_inputs_are_left_out_of_the_schema_but_validated_as_paths() -> None:
    model = parameters_model(make_tacos)
    parsed = model.model_validate({"salsa": True, "cheese": False, "file1": "/in/test1.txt"})
    assert parsed.file1 == Path("/in/test1.txt")  # type: ignore[attr-defined]


def test_values_that_break_the_annotations_are_refused() -> None:
    model = parameters_model(make_tacos)
    with pytest.raises(ValidationError, match="quantity"):
        model.model_validate({"salsa": True, "cheese": True, "quantity": 0})
    with pytest.raises(ValidationError, match="guacamole"):
        model.model_validate({"salsa": True, "cheese": True, "guacamole": True})


def documented(
    name: str,
    *,
    ratio: Annotated[float, Field(gt=0)] = 0.5,
    tags: list[str] | None = None,
    extra: Any = None,
) -> None:
    """Keyword-only parameters, containers and an unannotated-like Any."""


def test_keyword_only_parameters_containers_and_any_are_described() -> None:
    schema = parameters_schema(documented)
    assert schema["required"] == ["name"]
    assert schema["properties"]["ratio"]["exclusiveMinimum"] == 0
    assert {"type": "array", "items": {"type": "string"}} in schema["properties"]["tags"]["anyOf"]


def star_args(*values: int) -> None: ...


def star_kwargs(**values: int) -> None: ...


def positional_only(value: int, /) -> None: ...


@pytest.mark.parametrize("function", [star_args, star_kwargs, positional_only])
def test_functions_whose_parameters_cannot_be_named_are_refused(function: Any) -> None:
    with pytest.raises(TypeError, match="named parameters only"):
        parameters_schema(function)


def test_a_target_is_module_colon_function() -> None:
    assert load_target("pipelinejobs.compute.apps.tacobot:make_tacos") is make_tacos
    with pytest.raises(ValueError, match=r"package\.module:function"):
        load_target("pipelinejobs.compute.apps.tacobot.make_tacos")
    with pytest.raises(ValueError, match="no callable named 'make_burritos'"):
        load_target("pipelinejobs.compute.apps.tacobot:make_burritos")
