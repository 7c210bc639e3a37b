"""How the CLI speaks: results on stdout (tables, or JSON with ``--json``), everything else on
stderr, and exit codes that scripts can trust.

Exit codes: 0 success; 1 the gateway or an actor refused (HTTP 4xx, an execution that ended in
ERROR, a demo job that did not finish), or a wait ran out (the reason is printed); 2 a usage
error (a bad option or argument, a gateway URL that is not one, an input file the command cannot
use, no local secrets where they are needed); 3 the gateway cannot be reached, or it answered
that its store or broker cannot be (HTTP 5xx), or what answered at the URL is not a gateway:
trying again later, or with the right ``--url``, may succeed.
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipelinejobs.client import (
    ExecutionFailed,
    GatewayUnavailable,
    GatewayUnreachable,
    RequestRefused,
)
from pipelinejobs.errors import InvalidInput, PipelineJobsError, TransientError

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")


class ExitCode(enum.IntEnum):
    OK = 0
    REFUSED = 1
    USAGE = 2
    UNREACHABLE = 3


def fail(message: str, code: ExitCode = ExitCode.REFUSED) -> typer.Exit:
    """Print ``message`` on stderr; the ``typer.Exit`` to raise with ``code``."""
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(int(code))


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the errors a command may meet into a message and the matching exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except RequestRefused as exc:
            raise _refused(exc.status, exc.detail, exc.problem.get("errors")) from None
        except GatewayUnavailable as exc:
            raise fail(
                f"the gateway cannot serve now (HTTP {exc.status}): {exc.detail}; "
                "try again once its store and broker are back",
                ExitCode.UNREACHABLE,
            ) from None
        except ExecutionFailed as exc:
            raise fail(str(exc)) from None
        except GatewayUnreachable as exc:
            raise fail(str(exc), ExitCode.UNREACHABLE) from None
        except InvalidInput as exc:
            raise fail(str(exc), ExitCode.USAGE) from None
        except TimeoutError as exc:
            raise fail(str(exc) or "timed out") from None
        except TransientError as exc:
            raise fail(str(exc), ExitCode.UNREACHABLE) from None
        except PipelineJobsError as exc:
            raise fail(str(exc)) from None

    return wrapper


def _refused(status: int, detail: str, errors: Any) -> typer.Exit:
    exit_ = fail(f"the gateway refused (HTTP {status}): {detail}")
    if isinstance(errors, list) and len(errors) > 1:
        for line in errors:
            err.print(f"  - {escape(str(line))}")
    return exit_


def print_json(value: Any) -> None:
    """JSON for scripts: plain text, no colour or wrapping."""
    typer.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


def print_document(value: Any, as_json: bool) -> None:
    """A document: plain JSON for scripts, highlighted JSON for people."""
    if as_json:
        print_json(value)
    else:
        out.print_json(json.dumps(value, default=str), sort_keys=True)


def print_table(
    title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, caption: str = ""
) -> None:
    table = Table(title=title, caption=caption or None, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(escape("" if cell is None else str(cell)) for cell in row))
    out.print(table)


def progress(message: str) -> None:
    """A progress line on stderr (results stay alone on stdout)."""
    err.print(f"[dim]{escape(message)}[/dim]")
