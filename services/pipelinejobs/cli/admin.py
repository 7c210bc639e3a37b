"""CLI commands for whoever holds the system's secrets: ``catalog load``, ``token issue``,
``admin-token``.

They read the settings and secrets of this machine (``PIPELINEJOBS_*``, the data directory's
``secrets.json``), not the gateway: an operator's tools. Without secrets they refuse (exit 2)
rather than make new ones the running system would not know.

``catalog load`` writes straight to the store (SQLite in the data directory, or
``PIPELINEJOBS_MONGODB_URL``), which is safe while the system runs: the SQLite store waits for a
concurrent writer, and loading is idempotent.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import typer

from pipelinejobs.application.catalog import load_catalog
from pipelinejobs.cli.connection import LOCAL_USER, JsonOption, jwt_secret, local_secrets
from pipelinejobs.cli.output import print_json, print_table, reports_errors
from pipelinejobs.cli.read import read_document
from pipelinejobs.domain.tokens import AdminTokens
from pipelinejobs.gateway.tokens import ADMIN_ROLE, DEFAULT_TOKEN_TTL, issue_token
from pipelinejobs.settings import Settings
from pipelinejobs.store.factory import create_store

catalog_app = typer.Typer(
    help="The metadata catalog jobs are linked to: load (local secrets), list, show."
)
token_app = typer.Typer(help="Bearer tokens for the gateway, from this machine's secrets.")


@catalog_app.command("load")
@reports_errors
def catalog_load(
    document: Annotated[
        str,
        typer.Argument(
            help="JSON file with lists under experiment_designs, experiments, samples, "
            "measurements ('-' for stdin)."
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Load catalog records into the store (idempotent; all or nothing)."""
    catalog = read_document(document)
    counts = asyncio.run(_load(Settings(), catalog))
    if as_json:
        print_json(counts)
        return
    print_table("Loaded", ["section", "records"], ([name, n] for name, n in counts.items()))


async def _load(settings: Settings, catalog: dict[str, Any]) -> dict[str, int]:
    store = create_store(
        settings.mongodb_url.get_secret_value() if settings.mongodb_url else None,
        settings.data_dir,
        database=settings.mongodb_database,
    )
    await store.start()
    try:
        return await load_catalog(store, catalog, domain=settings.uuid_domain)
    finally:
        await store.close()


@token_app.command("issue")
@reports_errors
def token_issue(
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            help=f"Who the token speaks for (default: {LOCAL_USER}, with the admin role, like "
            "the token `up` prints).",
        ),
    ] = None,
    role: Annotated[
        list[str] | None, typer.Option("--role", help="A role, e.g. admin (repeatable).")
    ] = None,
    ttl: Annotated[
        int, typer.Option("--ttl", help="Seconds the token is valid.", min=1)
    ] = DEFAULT_TOKEN_TTL,
) -> None:
    """Print a Bearer token (HS256 JWT) that this system's gateway accepts.

    Without options it prints again the kind of token ``pipelinejobs up`` printed (user admin,
    role admin, 12 hours), at any time: ``export PIPELINEJOBS_TOKEN=$(pipelinejobs token
    issue)``.
    """
    roles = role or ([ADMIN_ROLE] if user is None else [])
    typer.echo(issue_token(jwt_secret(Settings()), user or LOCAL_USER, roles=roles, ttl=ttl))


@reports_errors
def admin_token(as_json: JsonOption = False) -> None:
    """Print an admin token (reset, ready, any document) from the admin key; it lasts 30 s."""
    settings = Settings()
    key = (
        settings.admin_key.get_secret_value().encode()
        if settings.admin_key is not None
        else local_secrets(settings).admin_key
    )
    tokens = AdminTokens(key, lifetime=settings.admin_token_lifetime)
    token = tokens.issue(time.time())
    if as_json:
        print_json({"token": token, "lifetime": settings.admin_token_lifetime})
    else:
        typer.echo(token)
