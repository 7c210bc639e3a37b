"""CLI commands that talk to actors through the gateway: ``send``, ``logs``, ``nonce ...``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from pipelinejobs.cli.connection import DEFAULT_URL, JsonOption, TokenOption, UrlOption, connect
from pipelinejobs.cli.output import err, fail, print_json, print_table, reports_errors
from pipelinejobs.client import ExecutionFailed
from pipelinejobs.client.gateway import DEFAULT_WAIT
from pipelinejobs.client.sync import Gateway

ActorArgument = Annotated[
    str, typer.Argument(help="Actor alias (pipelines-manager, jobs-manager, ...) or actor id.")
]


def parse_message(text: str | None) -> dict[str, Any] | None:
    """``-m``: a JSON object (None when not given)."""
    if text is None:
        return None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="'-m'") from None
    if not isinstance(document, dict):
        raise typer.BadParameter(
            f"must be a JSON object, not a {type(document).__name__}", param_hint="'-m'"
        )
    return document


def parse_parameters(pairs: list[str]) -> dict[str, str]:
    """``-q key=value`` pairs: the message's URL parameters (its context)."""
    parameters: dict[str, str] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint="'-q'")
        parameters[key] = value
    return parameters


@reports_errors
def send(
    actor: ActorArgument,
    message: Annotated[
        str | None, typer.Option("-m", "--message", help="The message: a JSON object.")
    ] = None,
    query: Annotated[
        list[str] | None,
        typer.Option("-q", "--query", help="URL parameter key=value (repeatable), e.g. token=..."),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the execution; print its result and logs.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait with --wait.", min=0.1)
    ] = DEFAULT_WAIT,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send a message to an actor (like `abaco run`): prints the execution id."""
    document = parse_message(message)
    parameters = parse_parameters(query or [])
    if document is None and not parameters:
        raise typer.BadParameter("give the message with -m JSON, or URL parameters with -q")
    with connect(url, token) as gateway:
        execution_id = gateway.send(actor, document, parameters)
        if not wait:
            if as_json:
                print_json({"executionId": execution_id})
            else:
                typer.echo(execution_id)
            return
        _wait_and_print(gateway, actor, execution_id, timeout, as_json)


def _wait_and_print(
    gateway: Gateway, actor: str, execution_id: str, timeout: float, as_json: bool
) -> None:
    with err.status(f"Waiting for {actor} execution {execution_id}..."):
        try:
            execution = gateway.wait(actor, execution_id, timeout)
        except ExecutionFailed as exc:
            execution = exc.execution
    logs = gateway.logs(actor, execution_id)
    if as_json:
        print_json({"execution": execution, "logs": logs})
    else:
        typer.echo(f"{execution_id} {execution.get('status')}")
        if execution.get("result") is not None:
            print_json(execution["result"])
        if logs:
            typer.echo(logs)
    if execution.get("status") == "ERROR":
        raise fail(f"{actor} execution {execution_id} ended in ERROR: {execution.get('error')}")


@reports_errors
def logs(
    actor: ActorArgument,
    execution: Annotated[str, typer.Argument(help="The execution id `send` printed.")],
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Wait until the execution has ended (COMPLETE or ERROR; exit 1 on ERROR).",
        ),
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait with --wait.", min=0.1)
    ] = DEFAULT_WAIT,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the log lines of an execution (and its status with --json).

    With ``--wait`` it first waits for the execution to end, so what a script reads next (the
    execution's result, the documents it wrote) is there: ``curl`` right after sending a
    message may still find it SUBMITTED.
    """
    with connect(url, token) as gateway:
        failure = None
        if wait:
            with err.status(f"Waiting for {actor} execution {execution}..."):
                try:
                    gateway.wait(actor, execution, timeout)
                except ExecutionFailed as exc:
                    failure = exc
        text = gateway.logs(actor, execution)
        if as_json:
            print_json({"execution": gateway.execution(actor, execution), "logs": text})
        else:
            typer.echo(text)
    if failure is not None:
        raise fail(f"{actor} execution {execution} ended in ERROR: {failure.error}")


nonce_app = typer.Typer(help="Manage an actor's nonces (x-nonce URL parameters).")


@nonce_app.command("create")
@reports_errors
def nonce_create(
    actor: ActorArgument,
    level: Annotated[
        str, typer.Option("--level", help="NONE, READ, EXECUTE or UPDATE.")
    ] = "EXECUTE",
    max_uses: Annotated[
        int, typer.Option("--max-uses", help="Uses allowed; -1 for unlimited.", min=-1)
    ] = -1,
    description: Annotated[str, typer.Option("--description", help="What it is for.")] = "",
    expires_in: Annotated[
        int | None, typer.Option("--expires-in", help="Seconds until it expires.", min=1)
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a nonce for an actor: prints its id, the value for x-nonce."""
    with connect(url, token) as gateway:
        nonce = gateway.create_nonce(
            actor,
            level=level.upper(),
            max_uses=max_uses,
            description=description,
            expires_in=expires_in,
        )
    if as_json:
        print_json(nonce)
    else:
        typer.echo(nonce["id"])


@nonce_app.command("list")
@reports_errors
def nonce_list(
    actor: ActorArgument,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List your nonces for an actor (everyone's, for an admin)."""
    with connect(url, token) as gateway:
        nonces = gateway.list_nonces(actor)
    if as_json:
        print_json(nonces)
        return
    print_table(
        f"Nonces of {actor}",
        ["id", "level", "maxUses", "remainingUses", "owner", "expiresAt", "description"],
        (
            [
                n["id"],
                n["level"],
                n["maxUses"],
                n["remainingUses"],
                n.get("owner"),
                n.get("expiresAt"),
                n.get("description"),
            ]
            for n in nonces
        ),
    )


@nonce_app.command("delete")
@reports_errors
def nonce_delete(
    actor: ActorArgument,
    nonce_id: Annotated[str, typer.Argument(help="The nonce's id.")],
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Delete a nonce: it authorizes nothing from then on."""
    with connect(url, token) as gateway:
        gateway.delete_nonce(actor, nonce_id)
    typer.echo(f"Deleted nonce {nonce_id}")
