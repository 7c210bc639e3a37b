"""The ``pipelinejobs`` CLI against a running ``pipelinejobs up``: outputs, ``--json``, exit codes.

Client commands run in process (typer's ``CliRunner``) with ``PIPELINEJOBS_URL`` pointing at the
subprocess and ``PIPELINEJOBS_DATA_DIR`` at its data directory, so they mint their token from its
secrets as they would on that machine. The blocking SDK (``pipelinejobs.client.sync``) is used
here too, for what the CLI does not do itself (creating a job as an agent). A small stand-in HTTP
server plays what may answer at a wrong ``--url``, or a gateway whose store is down.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from pipelinejobs.cli.main import app
from pipelinejobs.client import ExecutionFailed
from pipelinejobs.client.sync import Gateway, JobsClient, ManagedPipelineJob
from pipelinejobs_up import (
    AMQP_URL,
    GATEWAY_BANNER,
    STOP_LIMIT,
    UpProcess,
    banner_url,
    clean_environment,
    closed_port,
    command,
    delete_namespace,
    start_up,
    stop_processes,
    wait_for_execution,
    wait_for_job,
)
from typer.testing import CliRunner, Result

COMMANDS = [
    "up",
    "actor",
    "gateway",
    "send",
    "logs",
    "nonce",
    "pipelines",
    "jobs",
    "demo",
    "catalog",
    "token",
    "admin-token",
    "dead-letters",
]
SUBCOMMANDS = {
    "pipelines": ["list", "show", "create", "update", "retire"],
    "jobs": ["list", "show", "history", "events"],
    "nonce": ["create", "list", "delete"],
    "catalog": ["load"],
    "token": ["issue"],
    "dead-letters": ["list"],
}
PIPELINE = {
    "name": "CLI pipeline",
    "description": "made by test_cli",
    "components": [{"id": "cli-app-1.0", "inputs": {}, "parameters": {}}],
}


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    process = start_up(tmp_path_factory.mktemp("cli") / "data")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def cli(up: UpProcess) -> CliRunner:
    return CliRunner(
        env={
            "PIPELINEJOBS_URL": up.url,
            "PIPELINEJOBS_DATA_DIR": str(up.data_dir),
            "PIPELINEJOBS_TOKEN": None,
            "PIPELINEJOBS_AMQP_URL": None,
            "COLUMNS": "200",
        }
    )


@pytest.fixture
def gateway(up: UpProcess) -> Iterator[Gateway]:
    with Gateway(up.url, token=up.token) as gateway:
        yield gateway


def run(cli: CliRunner, *args: str, input: str | None = None) -> Result:
    return cli.invoke(app, list(args), input=input)


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def write(tmp_path: Path, document: Any, name: str = "doc.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


def new_job(gateway: Gateway, pipeline_uuid: str, **data: Any) -> ManagedPipelineJob:
    job = ManagedPipelineJob(
        gateway, pipeline_uuid, measurement_id="measurement.tacc.1234", data=data
    )
    job.setup()
    return job


@contextlib.contextmanager
def answering(status: int, content_type: str, body: bytes) -> Iterator[str]:
    """A stand-in HTTP server on a free port answering every request with ``status`` and
    ``body``; its URL."""

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = answer  # noqa: N815 (http.server's names)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def demo_pipeline(cli: CliRunner) -> str:
    pipelines = as_json(run(cli, "pipelines", "list", "--json"))["items"]
    [demo] = [p for p in pipelines if p["name"] == "PipelineJobs demo: example apps"]
    return str(demo["uuid"])


# -- help -------------------------------------------------------------------------------------
def test_help_lists_every_command_with_its_help(cli: CliRunner) -> None:
    result = run(cli, "--help")

    assert result.exit_code == 0
    for name in COMMANDS:
        assert re.search(rf"│ {re.escape(name)} +\S", result.stdout), name
    for group, subcommands in SUBCOMMANDS.items():
        listing = run(cli, group, "--help")
        assert listing.exit_code == 0
        for subcommand in subcommands:
            assert re.search(rf"│ {subcommand} +\S", listing.stdout), (group, subcommand)


def test_no_command_shows_the_help_as_a_usage_error(cli: CliRunner) -> None:
    result = run(cli)

    assert result.exit_code == 2  # a command is missing: the usage-error code
    assert "Usage: pipelinejobs [OPTIONS] COMMAND" in result.output
    for name in COMMANDS:
        assert re.search(rf"│ {re.escape(name)} +\S", result.output), name


# -- send and logs ----------------------------------------------------------------------------
def test_send_prints_the_execution_id_and_logs_reads_it(cli: CliRunner, up: UpProcess) -> None:
    document = {**PIPELINE, "components": [{"id": "cli-send-1.0"}]}

    sent = run(cli, "send", "pipelines-manager", "-m", json.dumps(document))

    assert sent.exit_code == 0, sent.output
    execution_id = sent.stdout.strip()
    assert re.fullmatch(r"[0-9A-Za-z]{13}", execution_id)
    with up.client() as client:
        wait_for_execution(client, "pipelines-manager", execution_id)
    logs = run(cli, "logs", "pipelines-manager", execution_id)
    assert logs.exit_code == 0
    assert "Action selected: create" in logs.stdout
    assert "Created pipeline 106" in logs.stdout
    status = as_json(run(cli, "logs", "pipelines-manager", execution_id, "--json"))
    assert status["execution"]["status"] == "COMPLETE"


def test_logs_wait_waits_for_the_execution_then_prints_its_logs(cli: CliRunner) -> None:
    document = {**PIPELINE, "components": [{"id": "cli-logs-wait-1.0"}]}
    first = run(cli, "send", "pipelines-manager", "-m", json.dumps(document)).stdout.strip()
    again = run(cli, "send", "pipelines-manager", "-m", json.dumps(document)).stdout.strip()

    created = run(cli, "logs", "pipelines-manager", first, "--wait")  # right after sending
    refused = run(cli, "logs", "pipelines-manager", again, "--wait")

    assert created.exit_code == 0, created.output
    assert "Created pipeline 106" in created.stdout
    assert refused.exit_code == 1
    assert f"pipelines-manager execution {again} ended in ERROR" in " ".join(refused.stderr.split())
    assert "already exists" in refused.output


def test_send_wait_prints_the_result_and_the_logs(cli: CliRunner) -> None:
    document = {**PIPELINE, "components": [{"id": "cli-wait-1.0"}]}

    result = run(cli, "send", "pipelines-manager", "-m", json.dumps(document), "--wait")

    assert result.exit_code == 0, result.output
    assert " COMPLETE" in result.stdout
    assert '"token":' in result.stdout
    assert "Created pipeline" in result.stdout


def test_send_with_url_parameters_and_json_output(cli: CliRunner, gateway: Gateway) -> None:
    job = new_job(gateway, demo_pipeline(cli), purpose="url parameters")

    result = run(
        cli,
        "send",
        "jobs-manager",
        "-m",
        '{"note": "hello"}',
        "-q",
        f"uuid={job.uuid}",
        "-q",
        "event=update",
        "-q",
        f"token={job.token}",
        "--wait",
        "--json",
    )

    reply = as_json(result)
    assert reply["execution"]["result"]["event"] == "update"
    assert JobsClient(gateway).history(job.uuid or "")[-1]["data"] == {"note": "hello"}


def test_send_wait_exits_1_with_the_reason_when_the_execution_fails(cli: CliRunner) -> None:
    result = run(cli, "send", "pipelines-manager", "-m", json.dumps(PIPELINE), "--wait")
    assert result.exit_code == 0, result.output

    again = run(cli, "send", "pipelines-manager", "-m", json.dumps(PIPELINE), "--wait")

    assert again.exit_code == 1
    assert "ERROR" in again.output
    assert "already exists" in again.output


def test_a_message_the_gateway_refuses_exits_1_with_its_detail(cli: CliRunner) -> None:
    result = run(cli, "send", "pipelines-manager", "-m", '{"name": "no components"}')

    assert result.exit_code == 1
    assert "HTTP 422" in result.output
    assert "components" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["send", "jobs-manager", "-m", "{not json"],
        ["send", "jobs-manager", "-m", "[1, 2]"],
        ["send", "jobs-manager", "-q", "no-equals-sign"],
        ["send", "jobs-manager"],
        ["jobs", "list", "--limit", "0"],
        ["token", "issue", "--ttl", "0"],  # no options is fine: the banner's token again
        ["actor", "no-such-actor"],
    ],
)
def test_usage_errors_exit_2(cli: CliRunner, args: list[str]) -> None:
    assert run(cli, *args).exit_code == 2


def test_an_unreachable_gateway_exits_3(cli: CliRunner) -> None:
    with closed_port() as port:
        result = run(cli, "jobs", "list", "--url", f"http://127.0.0.1:{port}")

    assert result.exit_code == 3
    assert "no answer from the gateway" in result.output


def test_a_gateway_whose_store_is_down_exits_3_with_its_reason(cli: CliRunner) -> None:
    problem = {"title": "Store unavailable", "status": 503, "detail": "the store is down"}
    with answering(503, "application/problem+json", json.dumps(problem).encode()) as url:
        listed = run(cli, "jobs", "list", "--url", url)
        sent = run(cli, "send", "jobs-manager", "-m", "{}", "--url", url)

    for result in (listed, sent):
        assert result.exit_code == 3, result.output
        assert "HTTP 503" in result.output
        assert "the store is down" in result.output


def test_a_url_where_something_else_answers_exits_3_naming_the_url(cli: CliRunner) -> None:
    with answering(200, "text/html", b"<html><body>Welcome to nginx!</body></html>") as url:
        result = run(cli, "send", "jobs-manager", "-m", "{}", "--url", url)

    assert result.exit_code == 3, result.output
    assert f"POST {url}/actors/v2/jobs-manager/messages did not answer as a pipelinejobs" in (
        " ".join(result.output.split())
    )
    assert "expected a JSON document" in result.output
    assert "Traceback" not in result.output


def test_a_url_that_is_not_one_is_a_usage_error(cli: CliRunner) -> None:
    result = run(cli, "jobs", "list", "--url", "127.0.0.1:8000")

    assert result.exit_code == 2
    assert "give an http(s) URL with a host" in " ".join(result.output.split())


def test_actor_and_gateway_refuse_the_in_process_bus(cli: CliRunner) -> None:
    for args in (["actor", "jobs-manager"], ["gateway", "--port", "0"]):
        result = run(cli, *args)

        assert result.exit_code == 2
        assert "PIPELINEJOBS_AMQP_URL" in result.output


# -- pipelines ----------------------------------------------------------------------------------
def test_pipelines_create_update_retire_and_show(cli: CliRunner, tmp_path: Path) -> None:
    document = {**PIPELINE, "components": [{"id": "cli-life-1.0"}]}
    created = as_json(run(cli, "pipelines", "create", write(tmp_path, document), "--json"))
    uuid, token = created["uuid"], created["token"]

    changes = write(tmp_path, {"description": "updated by the CLI"}, "changes.json")
    updated = run(cli, "pipelines", "update", uuid, changes, "--update-token", token)
    retired = run(cli, "pipelines", "retire", uuid, "--update-token", token)
    shown = as_json(run(cli, "pipelines", "show", uuid, "--json"))

    assert updated.exit_code == 0, updated.output
    assert f"Updated pipeline {uuid}: description" in updated.stdout
    assert retired.stdout.strip() == f"Pipeline {uuid} is RETIRED"
    assert (shown["description"], shown["state"]) == ("updated by the CLI", "RETIRED")
    assert [e["name"] for e in shown["history"]] == ["create", "update", "retire"]
    retired_list = as_json(run(cli, "pipelines", "list", "--state", "retired", "--json"))
    assert uuid in [p["uuid"] for p in retired_list["items"]]


def test_pipelines_create_prints_uuid_and_token(cli: CliRunner, tmp_path: Path) -> None:
    document = {**PIPELINE, "components": [{"id": "cli-print-1.0"}]}

    result = run(cli, "pipelines", "create", "-", input=json.dumps(document))

    assert result.exit_code == 0, result.output
    assert re.fullmatch(
        r"Created pipeline 106[0-9a-f-]{33} with update token [0-9a-f]{16}\n", result.stdout
    )


def test_pipelines_update_with_a_wrong_token_exits_1(cli: CliRunner, tmp_path: Path) -> None:
    uuid = demo_pipeline(cli)

    result = run(
        cli,
        "pipelines",
        "update",
        uuid,
        write(tmp_path, {"name": "x"}),
        "--update-token",
        "0" * 16,
    )

    assert result.exit_code == 1
    assert "is not valid" in result.output


def test_token_is_the_bearer_token_in_pipeline_updates_too(cli: CliRunner, tmp_path: Path) -> None:
    document = {**PIPELINE, "components": [{"id": "cli-bearer-1.0"}]}
    created = as_json(run(cli, "pipelines", "create", write(tmp_path, document), "--json"))
    changes = write(tmp_path, {"description": "never"}, "changes.json")

    updated = run(
        cli, "pipelines", "update", created["uuid"], changes,
        "--update-token", created["token"], "--token", "not-a-jwt",
    )  # fmt: skip
    retired = run(
        cli, "pipelines", "retire", created["uuid"],
        "--update-token", created["token"], "--token", "not-a-jwt",
    )  # fmt: skip
    without = run(cli, "pipelines", "retire", created["uuid"], "--token", created["token"])

    for refused in (updated, retired):
        assert refused.exit_code == 1, refused.output
        assert "HTTP 401" in refused.output
    assert without.exit_code == 2
    assert "--update-token" in without.output


def test_pipelines_list_is_a_table(cli: CliRunner) -> None:
    result = run(cli, "pipelines", "list")

    assert result.exit_code == 0
    assert "PipelineJobs demo: example apps" in result.stdout
    assert "tacobot9000-0.1.0u1" in result.stdout


# -- jobs ---------------------------------------------------------------------------------------
def test_jobs_show_history_and_events(cli: CliRunner, gateway: Gateway) -> None:
    job = new_job(gateway, demo_pipeline(cli), purpose="jobs commands")
    job.run({"launched": "by test_cli"})

    shown = as_json(run(cli, "jobs", "show", job.uuid or "", "--json"))
    history = as_json(run(cli, "jobs", "history", job.uuid or "", "--json"))
    events = as_json(run(cli, "jobs", "events", job.uuid or "", "--json"))
    table = run(cli, "jobs", "history", job.uuid or "")

    assert shown["state"] == "RUNNING"
    assert [e["name"] for e in history] == ["create", "run"]
    assert events["state"] == "RUNNING"
    assert [e["event"] for e in events["events"]] == [
        "run",
        "update",
        "resource",
        "fail",
        "finish",
        "reset",
    ]
    assert {"event": "finish", "leads_to": "FINISHED", "description": "mark complete"} in (
        events["events"]
    )
    assert table.exit_code == 0
    assert "by test_cli" in table.stdout


def test_jobs_list_filters_by_state_and_pipeline(cli: CliRunner, gateway: Gateway) -> None:
    pipeline = demo_pipeline(cli)
    job = new_job(gateway, pipeline, purpose="jobs list")
    job.fail({"reason": "listed as failed"})

    failed = as_json(
        run(cli, "jobs", "list", "--state", "failed", "--pipeline", pipeline, "--json")
    )

    assert job.uuid in [j["uuid"] for j in failed["items"]]
    assert {j["state"] for j in failed["items"]} == {"FAILED"}
    assert run(cli, "jobs", "list").exit_code == 0


def test_an_unknown_job_exits_1_with_a_404(cli: CliRunner) -> None:
    result = run(cli, "jobs", "show", "107acb4d-1f93-553a-9e1c-b7b58125bc89")

    assert result.exit_code == 1
    assert "HTTP 404" in result.output


# -- operator commands --------------------------------------------------------------------------
def test_catalog_load_makes_records_jobs_can_link_to(
    cli: CliRunner, gateway: Gateway, tmp_path: Path
) -> None:
    catalog = {
        "experiments": [{"id": "experiment.tacc.cli"}],
        "samples": [{"id": "sample.tacc.cli", "experiment": "experiment.tacc.cli"}],
        "measurements": [{"id": "measurement.tacc.cli", "sample": "sample.tacc.cli"}],
    }

    counts = as_json(run(cli, "catalog", "load", write(tmp_path, catalog), "--json"))

    assert counts == {"experiment_designs": 0, "experiments": 1, "samples": 1, "measurements": 1}
    job = ManagedPipelineJob(gateway, demo_pipeline(cli), sample_id="sample.tacc.cli")
    job.setup()
    assert job.state == "CREATED"


def test_catalog_load_refuses_a_bad_document_naming_the_problem(
    cli: CliRunner, tmp_path: Path
) -> None:
    catalog = {"samples": [{"id": "sample.tacc.orphan", "experiment": "experiment.tacc.none"}]}

    result = run(cli, "catalog", "load", write(tmp_path, catalog))

    assert result.exit_code == 2
    assert "experiment.tacc.none" in result.output


def test_token_issue_makes_a_token_the_gateway_accepts(cli: CliRunner) -> None:
    token = run(cli, "token", "issue", "--user", "bob", "--ttl", "600").stdout.strip()

    listed = run(cli, "jobs", "list", "--json", "--token", token)
    refused = run(cli, "jobs", "list", "--json", "--token", token + "x")

    assert listed.exit_code == 0, listed.output
    assert refused.exit_code == 1
    assert "HTTP 401" in refused.output


@pytest.mark.parametrize("args", [["token", "issue", "--user", "bob"], ["admin-token"]])
def test_without_local_secrets_tokens_are_refused_not_invented(
    tmp_path: Path, args: list[str]
) -> None:
    empty = tmp_path / "not-a-data-dir"

    result = CliRunner(env={"PIPELINEJOBS_DATA_DIR": str(empty)}).invoke(app, args)

    assert result.exit_code == 2
    assert f"no secrets at {empty}" in result.output
    assert not empty.exists()


def test_admin_token_resets_a_job(cli: CliRunner, gateway: Gateway) -> None:
    job = new_job(gateway, demo_pipeline(cli), purpose="admin token")
    job.fail({"reason": "to be reset"})

    token = run(cli, "admin-token").stdout.strip()
    job.reset(token)

    assert re.fullmatch(r"[0-9a-f]{16}", token)
    assert job.state == "CREATED"
    with pytest.raises(ExecutionFailed, match="needs an admin token"):
        job.reset(job.token or "")


def test_the_blocking_gateway_closes_once_and_then_refuses_work(up: UpProcess) -> None:
    gateway = Gateway(up.url, token=up.token)
    assert gateway.ready()["status"] == "ready"

    gateway.close()
    gateway.close()

    with pytest.raises(RuntimeError, match="closed"):
        gateway.ready()


def test_nonce_create_list_use_and_delete(cli: CliRunner, up: UpProcess) -> None:
    nonce = run(cli, "nonce", "create", "pipelines-manager", "--max-uses", "2").stdout.strip()
    listed = as_json(run(cli, "nonce", "list", "pipelines-manager", "--json"))
    assert nonce in [n["id"] for n in listed]

    with Gateway(up.url, nonce=nonce) as holder:
        holder.send("pipelines-manager", {**PIPELINE, "components": [{"id": "cli-nonce"}]})
    deleted = run(cli, "nonce", "delete", "pipelines-manager", nonce)
    after = as_json(run(cli, "nonce", "list", "pipelines-manager", "--json"))

    assert [n["remainingUses"] for n in listed if n["id"] == nonce] == [2]
    assert deleted.exit_code == 0
    assert nonce not in [n["id"] for n in after]


# -- dead letters -------------------------------------------------------------------------------
def test_dead_letters_list_shows_a_refused_message_with_its_reason(cli: CliRunner) -> None:
    doomed = {**PIPELINE, "components": [{"id": "cli-dead-letter"}]}
    assert run(cli, "send", "pipelines-manager", "-m", json.dumps(doomed), "--wait").exit_code == 0
    refused = run(cli, "send", "pipelines-manager", "-m", json.dumps(doomed), "--wait")
    assert refused.exit_code == 1

    listed = as_json(
        run(
            cli, "dead-letters", "list", "--actor", "pipelines-manager", "--limit", "1000", "--json"
        )
    )
    table = run(cli, "dead-letters", "list")

    [letter] = [d for d in listed if json.loads(d["body"]) == doomed]
    assert letter["actor"] == "pipelines-manager"
    assert "already exists" in letter["reason"]
    assert table.exit_code == 0, table.output
    assert letter["messageId"] in table.stdout


def test_dead_letters_list_is_for_admins(cli: CliRunner) -> None:
    token = run(cli, "token", "issue", "--user", "bob", "--ttl", "600").stdout.strip()

    result = run(cli, "dead-letters", "list", "--token", token)

    assert result.exit_code == 1
    assert "only an admin may list them" in result.output


# -- demo ---------------------------------------------------------------------------------------
def test_demo_runs_the_walkthrough_against_the_running_system(cli: CliRunner) -> None:
    result = run(cli, "demo", "--json")

    job = as_json(result)
    assert job["state"] == "FINISHED"
    assert [e["name"] for e in job["history"]][-3:] == ["finish", "index", "indexed"]
    assert "FAILED: staging inputs.files" in result.output
    assert "FAILED: app wordcount-0.1.0 exited with code 1: wordcount: tacos.png is not" in (
        " ".join(result.output.split())
    )


BROKEN_TACOBOT = {
    "id": "tacobot9000-0.1.0u1",
    "version": "0.1.0u1",
    "inputs": {"file1": {"required": False}},
    "command": ["{python}", "-c", "import sys; sys.exit('out of tortillas')"],
}
"""The demo's app, as an operator might break it: it runs, and fails."""


def test_demo_exits_1_with_the_reason_when_its_job_does_not_finish(tmp_path: Path) -> None:
    broken = start_up(tmp_path / "data")
    try:
        manifest = broken.data_dir / "apps" / "tacobot.json"
        manifest.write_text(json.dumps(BROKEN_TACOBOT))  # read again: the file changed
        runner = CliRunner(
            env={"PIPELINEJOBS_URL": broken.url, "PIPELINEJOBS_DATA_DIR": str(broken.data_dir)}
        )

        result = runner.invoke(app, ["demo", "--json"])
    finally:
        broken.stop()

    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["state"] == "FAILED"  # the record, to read what went wrong
    said = " ".join(result.stderr.split())
    assert "should end FINISHED and indexed, but it is FAILED" in said
    assert "out of tortillas" in said


def test_demo_embedded_starts_its_own_system() -> None:
    result = subprocess.run(  # its own process: it starts a whole system
        [*command(), "demo", "--embedded", "--json"],
        env=clean_environment(),
        capture_output=True,
        timeout=STOP_LIMIT * 10,
        check=False,
    )

    assert result.returncode == 0, result.stderr.decode()
    job = json.loads(result.stdout)
    assert job["state"] == "FINISHED"
    assert job["last_event"] == "indexed"
    assert b"Starting a temporary embedded system" in result.stderr


# -- scale-out ----------------------------------------------------------------------------------
@dataclass
class ScaledOut:
    """A gateway process and actor processes on RabbitMQ, sharing a data directory."""

    url: str
    environment: dict[str, str]
    folder: Path
    processes: list[subprocess.Popen[bytes]]

    def log(self, index: int) -> str:
        return (self.folder / f"{index}.err").read_text(errors="replace")


@contextlib.contextmanager
def scaled_out(tmp_path: Path, actors: list[str]) -> Iterator[ScaledOut]:
    """``pipelinejobs gateway --port 0`` (process 0), then one ``pipelinejobs actor NAME`` per
    name (processes 1...), told the gateway's URL from its banner; all stopped afterwards."""
    namespace = f"e2e-cli-{uuid.uuid4().hex[:12]}"
    environment = clean_environment(
        PIPELINEJOBS_AMQP_URL=AMQP_URL,
        PIPELINEJOBS_BUS_NAMESPACE=namespace,
        PIPELINEJOBS_DATA_DIR=str(tmp_path / "data"),
    )
    processes: list[subprocess.Popen[bytes]] = []

    def start(index: int, args: list[str], env: dict[str, str]) -> None:
        with (
            (tmp_path / f"{index}.out").open("wb") as out,
            (tmp_path / f"{index}.err").open("wb") as err,
        ):
            processes.append(subprocess.Popen([*command(), *args], env=env, stdout=out, stderr=err))

    try:
        start(0, ["gateway", "--port", "0"], environment)
        wait_until(lambda: gateway_url(tmp_path / "0.out") is not None)
        url = str(gateway_url(tmp_path / "0.out"))
        environment["PIPELINEJOBS_PUBLIC_URL"] = url  # where the actors' callbacks go
        for index, name in enumerate(actors, start=1):
            start(index, ["actor", name], environment)
        wait_until(
            lambda: all(
                b"actor consuming" in (tmp_path / f"{i}.err").read_bytes()
                for i in range(1, len(actors) + 1)
            )
        )
        wait_until(lambda: ready(url))
        yield ScaledOut(url, environment, tmp_path, processes)
    finally:
        exit_codes = stop_processes(processes)
        delete_namespace(namespace)
    assert exit_codes == [0] * len(processes)


def gateway_url(banner: Path) -> str | None:
    return banner_url(banner.read_text(errors="replace").splitlines(), GATEWAY_BANNER)


@pytest.mark.rabbitmq
def test_separate_gateway_and_actor_processes_work_on_rabbitmq(tmp_path: Path) -> None:
    with scaled_out(tmp_path, ["pipelines-manager", "pipelines-manager"]) as system:
        runner = CliRunner(env={"PIPELINEJOBS_URL": system.url, **system.environment})
        replies = [
            runner.invoke(
                app,
                [
                    "send",
                    "pipelines-manager",
                    "-m",
                    json.dumps({**PIPELINE, "components": [{"id": f"scale-{n}"}]}),
                    "--wait",
                    "--json",
                ],
            )
            for n in range(4)
        ]

    assert [json.loads(r.stdout)["execution"]["status"] for r in replies] == ["COMPLETE"] * 4
    handled = [system.log(i).count("Created pipeline") for i in range(3)]
    assert handled[0] == 0  # the gateway consumes nothing
    assert handled[1] + handled[2] == 4


@pytest.mark.rabbitmq
def test_a_scaled_out_agave_proxy_runs_the_example_apps(tmp_path: Path) -> None:
    actors = ["pipelines-manager", "jobs-manager", "jobs-indexer", "agave-proxy"]
    with scaled_out(tmp_path, actors) as system:
        runner = CliRunner(env={"PIPELINEJOBS_URL": system.url, **system.environment})
        catalog = {
            "experiments": [{"id": "experiment.tacc.scaled"}],
            "samples": [{"id": "sample.tacc.scaled", "experiment": "experiment.tacc.scaled"}],
            "measurements": [{"id": "measurement.tacc.scaled", "sample": "sample.tacc.scaled"}],
        }
        loaded = runner.invoke(app, ["catalog", "load", write(tmp_path, catalog)])
        assert loaded.exit_code == 0, loaded.output
        pipeline = {"name": "scaled", "components": [{"id": "tacobot9000-0.1.0u1"}]}
        created = runner.invoke(app, ["pipelines", "create", write(tmp_path, pipeline, "p.json")])
        assert created.exit_code == 0, created.output
        launch = {
            "parameters": {"sample_id": "sample.tacc.scaled"},
            "job_definition": {
                "appId": "tacobot9000-0.1.0u1",
                "parameters": {"salsa": True, "cheese": True},
            },
        }

        sent = runner.invoke(
            app, ["send", "agave-proxy", "-m", json.dumps(launch), "--wait", "--json"]
        )

        assert sent.exit_code == 0, sent.output + system.log(4)
        reply = json.loads(sent.stdout)["execution"]["result"]
        assert reply["callback"].startswith(f"{system.url}/actors/v2/jobs-manager/messages?")
        token = runner.invoke(app, ["token", "issue", "--user", "admin", "--role", "admin"])
        headers = {"Authorization": f"Bearer {token.stdout.strip()}"}
        with httpx.Client(base_url=system.url, headers=headers, timeout=30) as client:
            job = wait_for_job(
                client, reply["uuid"], lambda j: j["last_event"] in ("indexed", "fail")
            )
            files = client.get("/files", params={"generated_by": reply["uuid"]}).json()["items"]

    assert job["state"] == "FINISHED", job
    assert [f["name"] for f in files] == [f"{job['archive_path']}/tacos.json"]


@pytest.mark.rabbitmq
def test_demo_prepares_what_it_needs_and_finishes_on_gateway_and_actor_processes(
    tmp_path: Path,
) -> None:
    actors = ["pipelines-manager", "jobs-manager", "jobs-indexer", "agave-proxy"]
    with scaled_out(tmp_path, actors) as system:  # no demo content: nobody ran `up`
        runner = CliRunner(env={"PIPELINEJOBS_URL": system.url, **system.environment})

        result = runner.invoke(app, ["demo", "--json"])

    assert result.exit_code == 0, result.output + system.log(4)
    job = json.loads(result.stdout)
    assert job["state"] == "FINISHED"
    assert job["last_event"] == "indexed"
    assert "Demo catalog loaded" in result.stderr
    assert "Registered the demo pipeline" in result.stderr


def wait_until(condition: Any, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not so within {limit} s")
        time.sleep(0.1)


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
