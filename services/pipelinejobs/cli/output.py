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
import re
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
    """A table that keeps every UUID whole on one line, so it can be copied at any width.

    Columns of UUIDs (one or more per cell, one a line) never wrap; the other columns fold
    (a long path or JSON summary breaks across lines). When the UUID columns and a few
    characters of each other column do not fit the console's width, each row is printed as a
    block of ``column  value`` lines instead. The title is a line of its own above the table,
    so a UUID in it is never wrapped to the table's width either.
    """
    cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
    if title:
        out.print(f"[bold]{escape(title)}[/bold]")
    ids = {
        index: max(len(line) for line in [column, *_lines(cells, index)])
        for index, column in enumerate(columns)
        if _holds_uuids(_lines(cells, index))
    }
    folded = len(columns) - len(ids)
    needed = sum(ids.values()) + folded * MIN_FOLDED_WIDTH + 3 * len(columns) + 1
    if needed > out.width:
        _print_blocks(columns, cells)
    else:
        table = Table(show_lines=False)
        for index, column in enumerate(columns):
            if index in ids:
                table.add_column(column, no_wrap=True, min_width=ids[index])
            else:
                table.add_column(column, overflow="fold")
        for row in cells:
            table.add_row(*(escape(cell) for cell in row))
        out.print(table)
    if caption:
        out.print(f"[dim]{escape(caption)}[/dim]")


MIN_FOLDED_WIDTH = 10
"""Characters a folding column keeps at least, beside whole UUID columns."""
_UUID = re.compile(
    r"(?:uri:urn:)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)


def _lines(cells: Sequence[Sequence[str]], index: int) -> list[str]:
    return [line for row in cells for line in row[index].splitlines() if line]


def _holds_uuids(lines: Sequence[str]) -> bool:
    return bool(lines) and all(_UUID.fullmatch(line) for line in lines)


def _print_blocks(columns: Sequence[str], cells: Sequence[Sequence[str]]) -> None:
    """Rows as blocks of ``column  value`` lines (a value's own lines indented below)."""
    width = max(len(column) for column in columns)
    for number, row in enumerate(cells):
        if number:
            out.print()
        for column, cell in zip(columns, row, strict=True):
            first, *rest = cell.splitlines() or [""]
            out.print(f"[bold]{escape(column.ljust(width))}[/bold]  {escape(first)}")
            for line in rest:
                out.print(f"{' ' * width}  {escape(line)}")


def progress(message: str) -> None:
    """A progress line on stderr (results stay alone on stdout)."""
    err.print(f"[dim]{escape(message)}[/dim]")
