"""``pipelinejobs dead-letters list``: the messages the actors gave up on, and why (admins)."""

from __future__ import annotations

from typing import Annotated

import typer

from pipelinejobs.cli.connection import DEFAULT_URL, JsonOption, TokenOption, UrlOption, connect
from pipelinejobs.cli.output import print_json, print_table, reports_errors

dead_letters_app = typer.Typer(
    help="Messages the actors gave up on, with the reason (admins only).", no_args_is_help=True
)


@dead_letters_app.command("list")
@reports_errors
def dead_letters_list(
    actor: Annotated[
        str | None,
        typer.Option("--actor", help="Actor alias or id (default: every actor)."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", help="Most letters listed.", min=1, max=1000)
    ] = 100,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List dead-lettered messages, oldest first, with the reason each was given up.

    Nothing is removed. Needs an admin token (the default local token is one).
    """
    with connect(url, token) as gateway:
        letters = gateway.dead_letters(actor, limit=limit)
    if as_json:
        print_json(letters)
        return
    print_table(
        "Dead letters" if actor is None else f"Dead letters of {actor}",
        ["actor", "messageId", "messageType", "reason"],
        ([d["actor"], d["messageId"], d.get("messageType"), d["reason"]] for d in letters),
    )
