"""``pipelinejobs``: run the system, and talk to it.

Run it: ``up`` (everything in one process), ``actor NAME`` and ``gateway`` (separate processes
on RabbitMQ). Talk to it through the gateway: ``send``, ``logs``, ``pipelines``, ``jobs``
(``jobs follow``), ``files``, ``catalog list|show``, ``nonce``, ``demo``, ``dead-letters list``
(admins). Operate it with this machine's secrets: ``catalog load``, ``token issue``,
``admin-token``. ``--token`` is the Bearer token in every client command (a document's update
token is ``--update-token``). Exit codes: 0 success, 1 refused (the reason is printed), 2 usage
error, 3 gateway unreachable: nothing answers, what answers is not a gateway, or the gateway
answers that its store or broker is (HTTP 5xx); see :mod:`pipelinejobs.cli.output`.
"""

from __future__ import annotations

import typer

from pipelinejobs.cli.actors import logs, nonce_app, send
from pipelinejobs.cli.admin import admin_token, catalog_app, token_app
from pipelinejobs.cli.catalog import catalog_list, catalog_show
from pipelinejobs.cli.dead_letters import dead_letters_app
from pipelinejobs.cli.demo import demo
from pipelinejobs.cli.files import files_app
from pipelinejobs.cli.follow import jobs_follow
from pipelinejobs.cli.read import jobs_app, pipelines_app
from pipelinejobs.cli.system import actor, gateway, up

app = typer.Typer(
    name="pipelinejobs",
    help="Track data-processing pipelines and their jobs: run the system, and talk to it.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)

app.command(rich_help_panel="Run the system")(up)
app.command(rich_help_panel="Run the system")(actor)
app.command(rich_help_panel="Run the system")(gateway)
app.command(rich_help_panel="Talk to actors")(send)
app.command(rich_help_panel="Talk to actors")(logs)
app.add_typer(nonce_app, name="nonce", rich_help_panel="Talk to actors")
app.add_typer(pipelines_app, name="pipelines", rich_help_panel="Read and manage")
jobs_app.command("follow")(jobs_follow)
app.add_typer(jobs_app, name="jobs", rich_help_panel="Read and manage")
app.add_typer(files_app, name="files", rich_help_panel="Read and manage")
catalog_app.command("list")(catalog_list)
catalog_app.command("show")(catalog_show)
app.command(rich_help_panel="Read and manage")(demo)
app.add_typer(catalog_app, name="catalog", rich_help_panel="Operate (local secrets)")
app.add_typer(token_app, name="token", rich_help_panel="Operate (local secrets)")
app.command("admin-token", rich_help_panel="Operate (local secrets)")(admin_token)
app.add_typer(dead_letters_app, name="dead-letters", rich_help_panel="Operate (admins)")


def main() -> None:
    """The console script's entry point."""
    app()


if __name__ == "__main__":
    main()
