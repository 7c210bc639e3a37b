"""CLI commands over pipelines and jobs: ``pipelines ...`` and ``jobs ...``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pipelinejobs.cli.connection import DEFAULT_URL, JsonOption, TokenOption, UrlOption, connect
from pipelinejobs.cli.output import print_document, print_json, print_table, reports_errors
from pipelinejobs.client.sync import JobsClient, PipelinesClient

pipelines_app = typer.Typer(help="Pipelines: list, show, create, update, retire.")
jobs_app = typer.Typer(help="Jobs: list, show, history, and the events a job accepts next.")

UuidArgument = Annotated[str, typer.Argument(help="The uuid.")]
LimitOption = Annotated[int, typer.Option("--limit", help="Items per page.", min=1, max=500)]
OffsetOption = Annotated[int, typer.Option("--offset", help="Items to skip.", min=0)]
DocumentArgument = Annotated[
    str, typer.Argument(help="A JSON file with the pipeline document ('-' for stdin).")
]
UpdateTokenOption = Annotated[
    str,
    typer.Option(
        "--update-token",
        help="The pipeline's update token (or an admin token); --token stays the Bearer token.",
    ),
]


def read_document(source: str) -> dict[str, Any]:
    """A JSON object from a file, or stdin for ``-``."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {source}: {exc.strerror or exc}") from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{source} is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise typer.BadParameter(f"{source} must hold a JSON object")
    return document


# -- pipelines ---------------------------------------------------------------------------------
@pipelines_app.command("list")
@reports_errors
def pipelines_list(
    state: Annotated[str | None, typer.Option("--state", help="ACTIVE or RETIRED.")] = None,
    limit: LimitOption = 50,
    offset: OffsetOption = 0,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List pipelines."""
    with connect(url, token) as gateway:
        page = PipelinesClient(gateway).page(
            state=state.upper() if state else None, limit=limit, offset=offset
        )
    if as_json:
        print_json(page)
        return
    print_table(
        "Pipelines",
        ["uuid", "name", "state", "components", "updated"],
        (
            [
                p["uuid"],
                p.get("name"),
                p.get("state"),
                ", ".join(str(c.get("id", "?")) for c in p.get("components", [])),
                p.get("updated"),
            ]
            for p in page["items"]
        ),
        caption=caption(page),
    )


@pipelines_app.command("show")
@reports_errors
def pipelines_show(
    uuid: UuidArgument,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one pipeline, with its history."""
    with connect(url, token) as gateway:
        print_document(PipelinesClient(gateway).get(uuid), as_json)


@pipelines_app.command("create")
@reports_errors
def pipelines_create(
    document: DocumentArgument,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a pipeline: prints its uuid and update token."""
    pipeline = read_document(document)
    with connect(url, token) as gateway:
        reply = PipelinesClient(gateway).create(pipeline)
    if as_json:
        print_json(reply)
    else:
        typer.echo(f"Created pipeline {reply['uuid']} with update token {reply['token']}")


@pipelines_app.command("update")
@reports_errors
def pipelines_update(
    uuid: UuidArgument,
    document: DocumentArgument,
    update_token: UpdateTokenOption,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change a pipeline's fields (name, description...; never its components)."""
    changes = read_document(document)
    with connect(url, token) as gateway:
        reply = PipelinesClient(gateway).update(uuid, changes, update_token)
    if as_json:
        print_json(reply)
    else:
        changed = ", ".join(reply.get("updated", [])) or "nothing (already so)"
        typer.echo(f"Updated pipeline {reply['uuid']}: {changed}")


@pipelines_app.command("retire")
@reports_errors
def pipelines_retire(
    uuid: UuidArgument,
    update_token: UpdateTokenOption,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Retire a pipeline: it stays readable and accepts no new jobs."""
    with connect(url, token) as gateway:
        reply = PipelinesClient(gateway).retire(uuid, update_token)
    if as_json:
        print_json(reply)
    else:
        typer.echo(f"Pipeline {reply['uuid']} is {reply['state']}")


# -- jobs --------------------------------------------------------------------------------------
@jobs_app.command("list")
@reports_errors
def jobs_list(
    state: Annotated[
        str | None, typer.Option("--state", help="A job state, e.g. RUNNING or FINISHED.")
    ] = None,
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", help="Only jobs of this pipeline uuid.")
    ] = None,
    limit: LimitOption = 50,
    offset: OffsetOption = 0,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List jobs."""
    with connect(url, token) as gateway:
        page = JobsClient(gateway).page(
            state=state, pipeline_uuid=pipeline, limit=limit, offset=offset
        )
    if as_json:
        print_json(page)
        return
    print_table(
        "Jobs",
        ["uuid", "pipeline", "state", "last event", "updated"],
        (
            [
                j["uuid"],
                j.get("pipeline_uuid"),
                j.get("state"),
                j.get("last_event"),
                j.get("updated"),
            ]
            for j in page["items"]
        ),
        caption=caption(page),
    )


@jobs_app.command("show")
@reports_errors
def jobs_show(
    uuid: UuidArgument,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one job record, with its history."""
    with connect(url, token) as gateway:
        print_document(JobsClient(gateway).get(uuid), as_json)


@jobs_app.command("history")
@reports_errors
def jobs_history(
    uuid: UuidArgument,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a job's events, oldest first."""
    with connect(url, token) as gateway:
        history = JobsClient(gateway).history(uuid)
    if as_json:
        print_json(history)
        return
    print_table(
        f"History of job {uuid}",
        ["date", "event", "data"],
        ([e.get("date"), e.get("name"), summary(e.get("data"))] for e in history),
    )


@jobs_app.command("events")
@reports_errors
def jobs_events(
    uuid: UuidArgument,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """The events the job accepts next (from its state and the state machine)."""
    with connect(url, token) as gateway:
        accepted = JobsClient(gateway).next_events(uuid)
    if as_json:
        print_json(accepted)
        return
    print_table(
        f"Job {uuid} is {accepted['state']} ({accepted['state_description']}); it accepts",
        ["event", "leads to", "meaning"],
        ([row["event"], row["leads_to"], row["description"]] for row in accepted["events"]),
    )


def caption(page: dict[str, Any]) -> str:
    """The range of items a page shows, e.g. ``1-50 of 120``."""
    shown = len(page.get("items", []))
    total = page.get("total")
    offset = int(page.get("offset", 0))
    if not shown:
        return "none"
    return f"{offset + 1}-{offset + shown} of {total if total is not None else '?'}"


def summary(data: Any, limit: int = 100) -> str:
    """``data`` as one line of JSON, cut at ``limit`` characters."""
    text = json.dumps(data, sort_keys=True, default=str) if data else ""
    return text if len(text) <= limit else text[: limit - 3] + "..."
