"""CLI commands that read the catalog through the gateway: ``catalog list`` and ``catalog show``.

Both print the experiment > sample > measurement tree, each record with its text id, title and
typed UUID (on a line of its own, whole at any width), so a job's ``derived_from`` UUIDs can be
looked up and understood. (``catalog load`` writes the catalog; it lives with the operator's
commands.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer

from pipelinejobs.cli.connection import DEFAULT_URL, JsonOption, TokenOption, UrlOption, connect
from pipelinejobs.cli.output import out, print_json, reports_errors
from pipelinejobs.client.sync import CatalogClient

LimitOption = Annotated[int, typer.Option("--limit", help="Experiments per page.", min=1, max=500)]
OffsetOption = Annotated[int, typer.Option("--offset", help="Experiments to skip.", min=0)]


@reports_errors
def catalog_list(
    limit: LimitOption = 50,
    offset: OffsetOption = 0,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """The experiments, each with its samples and their measurements (typed UUIDs included)."""
    with connect(url, token) as gateway:
        catalog = CatalogClient(gateway)
        page = catalog.page("experiment", limit=limit, offset=offset)
        trees = [catalog.tree(experiment) for experiment in page["items"]]
    if as_json:
        print_json({**page, "items": trees})
        return
    if not trees:
        typer.echo("No experiments in the catalog (load one with `pipelinejobs catalog load`).")
        return
    for number, tree in enumerate(trees):
        if number:
            typer.echo("")
        print_tree(tree)
    shown = f"{offset + 1}-{offset + len(trees)} of {page.get('total', '?')} experiments"
    out.print(f"[dim]{shown}[/dim]")


@reports_errors
def catalog_show(
    record_id: Annotated[
        str, typer.Argument(metavar="ID", help="A record's text id or typed UUID, any level.")
    ],
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """One record: the records above it, itself, and the records below it."""
    with connect(url, token) as gateway:
        catalog = CatalogClient(gateway)
        record = catalog.get(record_id)
        ancestors = catalog.ancestors(record)
        tree = catalog.tree(record)
    if as_json:
        print_json({**tree, "ancestors": ancestors})
        return
    print_tree(_lineage(ancestors, tree))


def _lineage(ancestors: Sequence[Mapping[str, Any]], tree: dict[str, Any]) -> dict[str, Any]:
    """``tree`` below its ancestors, each the only child of the one above it."""
    node = tree
    for ancestor in reversed(ancestors):
        node = {**ancestor, "children": [node]}
    return node


def print_tree(node: Mapping[str, Any], first: str = "", rest: str = "") -> None:
    """``node`` and its ``children``, with guides: a label line (type, text id, title) and its
    UUID on the next line."""
    children: list[Mapping[str, Any]] = list(node.get("children") or [])
    title = node.get("title")
    label = f"{node.get('type')} {node.get('id')}" + (f"  {title}" if title else "")
    typer.echo(f"{first}{label}")
    typer.echo(f"{rest}{'│   ' if children else '    '}{node.get('uuid')}")
    for index, child in enumerate(children):
        last = index == len(children) - 1
        print_tree(child, rest + ("└── " if last else "├── "), rest + ("    " if last else "│   "))
