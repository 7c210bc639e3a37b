"""Run a callable app in its own process, so ``maxRunTime`` applies and a crash stays there.

``python -m pipelinejobs.compute.local.run_callable MODULE:FUNCTION PARAMS_JSON OUTDIR`` calls
the function with the job's parameters (and staged input paths), validated against its
signature by pydantic, in ``OUTDIR`` as the working directory. Exit codes: 0 done, 1 the
function raised (traceback on stderr), 2 the call itself was invalid.

``python -m pipelinejobs.compute.local.run_callable --schema MODULE:FUNCTION [EXCLUDED,...]``
prints the JSON Schema of the function's parameters (minus the named inputs): the registry
asks for it this way so that importing an app's code never runs inside the system's process.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from pipelinejobs.compute.local.signatures import load_target, parameters_model, parameters_schema

USAGE = (
    "usage: python -m pipelinejobs.compute.local.run_callable MODULE:FUNCTION PARAMS_JSON OUTDIR\n"
    "       python -m pipelinejobs.compute.local.run_callable --schema MODULE:FUNCTION "
    "[EXCLUDED,...]"
)
EXIT_INVALID = 2


def main(argv: Sequence[str]) -> int:
    if argv and argv[0] == "--schema" and len(argv) in (2, 3):
        excluded = [name for name in (argv[2] if len(argv) == 3 else "").split(",") if name]
        return _print_schema(argv[1], excluded)
    if len(argv) == 3 and not argv[0].startswith("-"):
        return _run(argv[0], argv[1], argv[2])
    print(USAGE, file=sys.stderr)
    return EXIT_INVALID


def _print_schema(target: str, excluded: list[str]) -> int:
    try:
        function = load_target(target)
        schema = parameters_schema(function, exclude=excluded)
        named = set(inspect.signature(function).parameters)
        for name in excluded:
            if name not in named:
                raise TypeError(
                    f"input {name!r} is not a parameter of {target}; a callable app receives "
                    "each declared input as the keyword parameter of that name"
                )
    except (ImportError, ValueError, TypeError, NameError) as exc:
        print(f"callable {target}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    json.dump(schema, sys.stdout)
    return 0


def _run(target: str, params_json: str, outdir: str) -> int:
    try:
        function = load_target(target)
        given = json.loads(params_json)
        model = parameters_model(function)
        validated = model.model_validate(given)
    except ValidationError as exc:
        print(f"invalid parameters for {target}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except (ImportError, ValueError, TypeError, NameError) as exc:
        print(f"callable {target}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    os.chdir(outdir)
    arguments = {name: getattr(validated, name) for name in type(validated).model_fields}
    result = function(**arguments)
    if inspect.isawaitable(result):
        asyncio.run(_awaited(result))
    return 0


async def _awaited(result: object) -> None:
    await result  # type: ignore[misc]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
