"""Parameter schemas of Python callables, from their type annotations (through pydantic).

A callable app declares nothing but its function: the parameters a job may pass are the
function's named parameters, their types and defaults are its annotations and defaults, and
the JSON Schema published for the app is pydantic's schema of that signature. This module is
imported by the callable runner inside the app's subprocess, so it depends on pydantic only.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Collection
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

_NAMED_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def load_target(target: str) -> Callable[..., Any]:
    """Import ``package.module:function`` and return the function."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"callable {target!r} is not accepted; expected package.module:function")
    module = importlib.import_module(module_name)
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ValueError(f"{module_name} has no callable named {attribute!r}")
    return function  # type: ignore[no-any-return]


def parameters_model(
    function: Callable[..., Any], *, exclude: Collection[str] = ()
) -> type[BaseModel]:
    """A pydantic model of ``function``'s named parameters, minus ``exclude`` (the inputs).

    Unannotated parameters accept any JSON value; unknown parameters are refused.
    ``TypeError`` when the function takes ``*args``, ``**kwargs`` or positional-only
    parameters: a job passes parameters by name.
    """
    signature = inspect.signature(function, eval_str=True)
    fields: dict[str, Any] = {}
    for name, parameter in signature.parameters.items():
        if parameter.kind not in _NAMED_KINDS:
            raise TypeError(
                f"{_name(function)} takes {parameter}; a callable app takes named parameters "
                "only (no *args, **kwargs or positional-only parameters)"
            )
        if name in exclude:
            continue
        annotation = (
            Any if parameter.annotation is inspect.Parameter.empty else parameter.annotation
        )
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        fields[name] = (annotation, default)
    model: type[BaseModel] = create_model(
        f"{_name(function)}_parameters",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
    return model


def parameters_schema(
    function: Callable[..., Any], *, exclude: Collection[str] = ()
) -> dict[str, Any]:
    """The JSON Schema of the parameters a job passes to ``function``."""
    return parameters_model(function, exclude=exclude).model_json_schema()


def _name(function: Callable[..., Any]) -> str:
    return str(getattr(function, "__qualname__", None) or getattr(function, "__name__", "callable"))
