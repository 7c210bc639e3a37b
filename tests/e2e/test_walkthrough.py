"""``docs/walkthrough.md``, step by step, against ``pipelinejobs up`` running as a subprocess.

The documents (``my_pipeline.json``, ``launch.json``, ``failing.json``, ``picture.json``), the
values the reader is told to keep and the answers shown as JSON are read from the walkthrough's
own code blocks, so a change to the document is a change to this test. Each request is the
walkthrough's ``curl`` call (a JSON body labelled as a form, as ``curl --data`` sends it), over
real HTTP; the compute jobs run on the local execution system, which calls back over HTTP. The
"same with the CLI" block is run as written, by ``bash``, after the steps before it; its Python
block is run too. The same walkthrough runs on the in-process bus and on RabbitMQ.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from pipelinejobs.cli.main import app
from pipelinejobs.demo.content import (
    DOCUMENTED_PIPELINE,
    UPDATED_DESCRIPTION,
    app_failing_launch,
    failing_launch,
    tacobot_launch,
)
from pipelinejobs_up import (
    UpProcess,
    clean_environment,
    delete_namespace,
    start_up,
    wait_for_execution,
    wait_for_job,
)
from typer.testing import CliRunner

WALKTHROUGH = Path(__file__).resolve().parents[2] / "docs" / "walkthrough.md"
CURL = {"Content-Type": "application/x-www-form-urlencoded"}
SYSTEM = "data-sd2e-community"
QUIET_EVENTS = {"resource", "update"}
CLI_SECTION = "## The same with the CLI and the SDK"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_HEREDOC = re.compile(r"^cat > (\S+) <<'EOF'\n(.*?)^EOF$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    """One fenced code block of the walkthrough, with where it starts."""

    language: str
    text: str
    start: int


class Walkthrough:
    """The walkthrough's code blocks, and what the test takes from them."""

    def __init__(self, path: Path) -> None:
        self.text = path.read_text(encoding="utf-8")
        self.blocks = [
            Block(match.group(1), match.group(2), match.start())
            for match in _FENCE.finditer(self.text)
        ]

    def document(self, name: str) -> Any:
        """The JSON a ``cat > NAME <<'EOF'`` block writes."""
        for block in self.blocks:
            for match in _HEREDOC.finditer(block.text):
                if match.group(1) == name:
                    return json.loads(match.group(2))
        raise AssertionError(f"{WALKTHROUGH} has no `cat > {name} <<'EOF'` block")

    def answer(self, marker: str) -> Any:
        """The JSON block right after the shell block that contains ``marker``."""
        for index, block in enumerate(self.blocks[:-1]):
            if block.language == "sh" and marker in block.text:
                following = self.blocks[index + 1]
                assert following.language == "json", f"no JSON answer after {marker!r}"
                return json.loads(following.text)
        raise AssertionError(f"{WALKTHROUGH} has no shell block with {marker!r}")

    def value(self, pattern: str) -> str:
        """The first group of ``pattern`` in a shell block."""
        for block in self.blocks:
            match = re.search(pattern, block.text) if block.language == "sh" else None
            if match:
                return match.group(1)
        raise AssertionError(f"{WALKTHROUGH} has no shell line matching {pattern!r}")

    def section_block(self, heading: str, language: str) -> str:
        """The first ``language`` block after the heading ``heading``."""
        position = self.text.index(heading)
        for block in self.blocks:
            if block.start > position and block.language == language:
                return block.text
        raise AssertionError(f"no {language} block after {heading!r}")


DOC = Walkthrough(WALKTHROUGH)
MY_PIPELINE = DOC.document("my_pipeline.json")
LAUNCH = DOC.document("launch.json")
FAILING = DOC.document("failing.json")
PICTURE = DOC.document("picture.json")


@pytest.fixture(
    scope="module", params=["embedded", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)]
)
def up(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UpProcess]:
    """``pipelinejobs up`` on a free port, on the in-process bus or on RabbitMQ."""
    process = start_up(tmp_path_factory.mktemp(request.param) / "data", bus=request.param)
    try:
        yield process
    finally:
        process.stop()
        if process.namespace is not None:
            delete_namespace(process.namespace)


@pytest.fixture
def client(up: UpProcess) -> Iterator[httpx.Client]:
    with up.client() as client:
        yield client


@dataclass(frozen=True)
class Step1:
    """Step 1 as the reader does it: ``my_pipeline.json`` sent to the pipelines-manager."""

    execution_id: str
    uuid: str
    token: str


@pytest.fixture(scope="module")
def step1(up: UpProcess) -> Step1:
    """Step 1, once per system: the later steps (and the CLI section) come after it."""
    with up.client() as client:
        execution_id = post(client, "pipelines-manager", MY_PIPELINE)
        result = completed(client, "pipelines-manager", execution_id)["result"]
    return Step1(execution_id, result["uuid"], result["token"])


def post(client: httpx.Client, actor: str, document: Any, **params: str) -> str:
    """``curl -XPOST -H "$AUTH" --data '<json>' $PJ/actors/v2/<actor>/messages?<params>``."""
    response = client.post(
        f"/actors/v2/{actor}/messages", content=json.dumps(document), params=params, headers=CURL
    )
    assert response.status_code == 200, response.text
    return str(response.json()["result"]["executionId"])


def completed(client: httpx.Client, actor: str, execution_id: str) -> dict[str, Any]:
    execution = wait_for_execution(client, actor, execution_id)
    assert execution["status"] == "COMPLETE", execution["error"]
    return execution


def logs(client: httpx.Client, actor: str, execution_id: str) -> str:
    response = client.get(f"/actors/v2/{actor}/executions/{execution_id}/logs")
    assert response.status_code == 200, response.text
    return str(response.json()["result"]["logs"])


def launch(client: httpx.Client, document: dict[str, Any]) -> dict[str, Any]:
    """Launch through the agave-proxy with a fresh ``data`` (each test makes its own job)."""
    unique = {**document, "data": {"run": uuid.uuid4().hex}}
    return completed(client, "agave-proxy", post(client, "agave-proxy", unique))["result"]


def ended(job: dict[str, Any]) -> bool:
    return job["last_event"] in ("indexed", "fail")


def names(job: dict[str, Any]) -> list[str]:
    return [event["name"] for event in job["history"]]


def test_the_demo_runs_the_walkthroughs_own_documents() -> None:
    assert DOCUMENTED_PIPELINE == MY_PIPELINE
    assert tacobot_launch() == LAUNCH
    assert failing_launch() == FAILING
    assert app_failing_launch() == PICTURE
    assert DOC.value(r"\.description = \"([^\"]+)\"") == UPDATED_DESCRIPTION


def test_up_prints_its_url_and_a_token_and_loads_the_demo(
    up: UpProcess, client: httpx.Client
) -> None:
    assert (urlsplit(up.url).port or 0) > 0  # --port 0: the port it bound, not the one asked
    assert f"pipelinejobs is up at {up.url}" in up.banner
    assert any(line.startswith("export PIPELINEJOBS_TOKEN=") for line in up.banner)

    pipelines = client.get("/pipelines").json()["items"]

    listed = [
        {
            "uuid": p["uuid"],
            "name": p["name"],
            "state": p["state"],
            "components": [c["id"] for c in p["components"]],
        }
        for p in pipelines
    ]
    assert DOC.answer("$PJ/pipelines | jq") in listed


def test_create_and_update_a_pipeline(client: httpx.Client, step1: Step1) -> None:
    created_logs = logs(client, "pipelines-manager", step1.execution_id)
    assert "Action selected: create" in created_logs
    assert f"Created pipeline {step1.uuid} with update token {step1.token}" in created_logs
    assert step1.uuid == DOC.value(r"(?m)^PIPELINE=(\S+)")  # the same on every installation

    changed = {**MY_PIPELINE, "description": UPDATED_DESCRIPTION}
    updated = post(client, "pipelines-manager", changed, token=step1.token)

    completed(client, "pipelines-manager", updated)
    assert f"Updated pipeline {step1.uuid} with update token {step1.token}" in logs(
        client, "pipelines-manager", updated
    )
    stored = client.get(f"/pipelines/{step1.uuid}").json()
    assert stored["description"] == UPDATED_DESCRIPTION
    assert [event["name"] for event in stored["history"]][:2] == ["create", "update"]


def test_a_launched_job_runs_calls_back_finishes_and_is_indexed(
    up: UpProcess, client: httpx.Client
) -> None:
    launched = launch(client, LAUNCH)
    job_uuid = launched["uuid"]
    assert launched["job_id"]
    assert launched["callback"].startswith(f"{up.url}/actors/v2/jobs-manager/messages?")
    assert "&status=${JOB_STATUS}" in launched["callback"]

    job = wait_for_job(client, job_uuid, ended)

    assert job["state"] == "FINISHED"
    walk = names(job)
    assert walk[0] == "create"
    assert walk[-3:] == ["finish", "index", "indexed"]
    assert "run" in walk
    assert set(walk[1:-3]) <= {"run"} | QUIET_EVENTS
    assert len(job["derived_from"]) == 2  # the sample's two measurements
    assert job["generated_by"] == [job["pipeline_uuid"]]
    [file] = client.get("/files", params={"generated_by": job_uuid}).json()["items"]
    shown = DOC.answer('generated_by=$JOB" | jq')
    assert file["name"] == f"{job['archive_path']}/tacos.json"
    assert file["name"].rsplit("/", 1)[1] == shown["name"].rsplit("/", 1)[1]
    assert {k: file[k] for k in ("level", "type", "storage_system")} == {
        k: shown[k] for k in ("level", "type", "storage_system")
    }
    archived = up.data_dir / "storage" / SYSTEM / job["archive_path"].lstrip("/") / "tacos.json"
    assert json.loads(archived.read_text()) == DOC.answer("/tacos.json")


def test_an_event_sent_as_url_parameters_is_recorded_with_the_body_as_data(
    up: UpProcess, client: httpx.Client
) -> None:
    launched = launch(client, LAUNCH)
    wait_for_job(client, launched["uuid"], ended)

    sent = post(
        client,
        "jobs-manager",
        {"reviewer": "alice"},
        uuid=launched["uuid"],
        event="validate",
        token=launched["token"],
    )

    completed(client, "jobs-manager", sent)
    job = client.get(f"/jobs/{launched['uuid']}").json()
    last = {"name": job["history"][-1]["name"], "data": job["history"][-1]["data"]}
    assert {"state": job["state"], "last": last} == DOC.answer("event=validate")
    cli = CliRunner(env={"PIPELINEJOBS_URL": up.url, "PIPELINEJOBS_TOKEN": up.token})
    events = cli.invoke(app, ["jobs", "events", launched["uuid"], "--json"])
    assert events.exit_code == 0, events.output
    documented = DOC.value(r"jobs events \$JOB\s+# a table: (.+)").split(", ")
    assert [row["event"] for row in json.loads(events.stdout)["events"]] == documented


def test_a_job_whose_input_is_missing_fails_while_staging_with_the_reason(
    client: httpx.Client,
) -> None:
    launched = launch(client, FAILING)

    job = wait_for_job(client, launched["uuid"], lambda j: j["state"] == "FAILED")

    shown = DOC.answer("@failing.json")
    assert (job["state"], names(job)[0], names(job)[-1]) == (shown["state"], "create", "fail")
    data = job["history"][-1]["data"]  # the compute service's job record
    assert {key: data[key] for key in shown["reason"]} == shown["reason"]


def test_a_job_whose_app_fails_ends_failed_with_the_apps_reason(client: httpx.Client) -> None:
    launched = launch(client, PICTURE)

    job = wait_for_job(client, launched["uuid"], lambda j: j["state"] == "FAILED")

    shown = DOC.answer("@picture.json")
    failed = job["history"][-1]
    assert (job["state"], failed["name"]) == (shown["state"], "fail")
    assert failed["data"]["status"] == "FAILED"  # the compute service's callback, mapped
    assert failed["data"]["lastStatusMessage"] == shown["reason"]  # the app's own stderr
    assert "run" in names(job)


def test_a_job_the_compute_service_refuses_ends_failed_with_its_reason(
    client: httpx.Client,
) -> None:
    refused = {**LAUNCH, "data": {"run": uuid.uuid4().hex}}
    refused["job_definition"] = {
        **LAUNCH["job_definition"],
        "parameters": {"salsa": True, "cheese": True, "quantity": 0},
    }

    execution = wait_for_execution(client, "agave-proxy", post(client, "agave-proxy", refused))

    assert execution["status"] == "ERROR"
    assert "quantity: 0 is less than the minimum of 1" in execution["error"]
    [job] = [
        j
        for j in client.get("/jobs", params={"state": "FAILED", "limit": 500}).json()["items"]
        if j["data"].get("run") == refused["data"]["run"]
    ]
    job = client.get(f"/jobs/{job['uuid']}").json()  # lists carry no history
    assert names(job) == ["create", "fail"]
    assert "quantity: 0 is less than the minimum of 1" in job["history"][-1]["data"]["error"]


def test_launching_the_same_job_again_is_refused(client: httpx.Client) -> None:
    launched = launch(client, LAUNCH)
    wait_for_job(client, launched["uuid"], ended)
    again = {**LAUNCH, "data": client.get(f"/jobs/{launched['uuid']}").json()["data"]}
    again["data"] = {"run": again["data"]["run"]}

    execution = wait_for_execution(client, "agave-proxy", post(client, "agave-proxy", again))

    assert execution["status"] == "ERROR"
    assert f"job {launched['uuid']} already exists" in execution["error"]


@pytest.mark.skipif(shutil.which("jq") is None, reason="the walkthrough's shell steps need jq")
def test_the_cli_section_runs_as_written_after_the_steps_before_it(
    up: UpProcess,
    client: httpx.Client,
    step1: Step1,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job = launch(client, LAUNCH)  # step 2
    wait_for_job(client, job["uuid"], ended)
    for name in ("my_pipeline.json", "launch.json"):
        (tmp_path / name).write_text(json.dumps(DOC.document(name)))
    (tmp_path / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    shell = DOC.section_block(CLI_SECTION, "sh")
    variables = {
        "PJ": up.url,
        "PIPELINEJOBS_TOKEN": up.token,
        "PIPELINE": step1.uuid,
        "PIPELINE_TOKEN": step1.token,
        "JOB": job["uuid"],
    }

    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", shell],
        cwd=tmp_path,
        env=clean_environment(**variables),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"Updated pipeline {step1.uuid}: description" in ran.stdout
    assert "Created pipeline 106" in ran.stdout
    assert " COMPLETE" in ran.stdout
    assert (
        client.get(f"/pipelines/{step1.uuid}").json()["description"]
        == (json.loads((tmp_path / "changes.json").read_text())["description"])
    )

    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PIPELINEJOBS_URL", up.url)
    capsys.readouterr()
    exec(DOC.section_block(CLI_SECTION, "python"), {"__name__": "walkthrough"})
    printed = capsys.readouterr().out
    assert "'name': 'finish'" in printed


def test_up_restarts_on_its_data_and_stops_gracefully(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_up(data_dir)
    with first.client() as client:
        launched = launch(client, LAUNCH)
        wait_for_job(client, launched["uuid"], ended)
    assert first.stop() == 0

    second = start_up(data_dir)
    try:
        with second.client() as client:
            pipelines = client.get("/pipelines").json()
            job = client.get(f"/jobs/{launched['uuid']}").json()
    finally:
        assert second.stop() == 0

    assert [p["name"] for p in pipelines["items"]] == ["PipelineJobs demo: example apps"]
    assert job["last_event"] == "indexed"
