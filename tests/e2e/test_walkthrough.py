"""``docs/walkthrough.md`` as written, against ``pipelinejobs up`` running as a subprocess.

The system runs as a newcomer's ``make run`` does: in a fresh working directory, on the default
relative data directory ``data``. Every shell block of the walkthrough (but the one that starts
the system) is then run as written, in order, in one ``bash -euo pipefail`` in that directory,
``curl`` and ``jq`` lines included, with nothing set but ``PIPELINEJOBS_URL`` (the port the
system got); its Python block runs as written too, in the same shell after the others. What each
block prints is compared with the answer the walkthrough shows after it (values that differ on
every installation, such as tokens, execution ids, dates and sessions, compared by their shape).
So a wrong URL, flag or variable in the document fails here. The same walkthrough runs on the
in-process bus and on RabbitMQ. A few further tests send the walkthrough's documents over HTTP
for what the document only describes (a refused launch, launching again, a restart).
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

WALKTHROUGH = Path(__file__).resolve().parents[2] / "docs" / "walkthrough.md"
CURL = {"Content-Type": "application/x-www-form-urlencoded"}
QUIET_EVENTS = {"resource", "update"}
WALK_LIMIT = 600
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_HEREDOC = re.compile(r"^cat > (\S+) <<'EOF'\n(.*?)^EOF$", re.MULTILINE | re.DOTALL)
_MARK = "@@walkthrough-block@@"
_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z")
_EXECUTION_ID = re.compile(r"^[A-Za-z0-9]{13}$")
_UPDATE_TOKEN = re.compile(r"\b[0-9a-f]{16}\b")


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

    def shell_block(self, marker: str) -> int:
        """The index of the first shell block containing ``marker``."""
        for index, block in enumerate(self.blocks):
            if block.language == "sh" and marker in block.text:
                return index
        raise AssertionError(f"{WALKTHROUGH} has no shell block with {marker!r}")

    def answer(self, marker: str) -> str:
        """The answer block (JSON or text) right after the shell block containing ``marker``."""
        index = self.shell_block(marker)
        following = self.blocks[index + 1]
        assert following.language in ("json", ""), f"no answer shown after {marker!r}"
        return following.text

    def json_answer(self, marker: str) -> Any:
        return json.loads(self.answer(marker))

    def value(self, pattern: str) -> str:
        """The first group of ``pattern`` in a shell block."""
        for block in self.blocks:
            match = re.search(pattern, block.text) if block.language == "sh" else None
            if match:
                return match.group(1)
        raise AssertionError(f"{WALKTHROUGH} has no shell line matching {pattern!r}")

    def script(self) -> str:
        """Every block a reader runs, as one bash script: the shell blocks as written (but the
        one that starts the system), then the Python block fed to the virtual environment's
        Python. Each block's output is preceded by a marker line naming the block."""
        parts: list[str] = []
        for index, block in enumerate(self.blocks):
            if block.language == "sh" and not block.text.startswith("make run"):
                parts.append(f"echo '{_MARK} {index}'\n{block.text}")
            elif block.language == "python":
                parts.append(
                    f"echo '{_MARK} {index}'\n.venv/bin/python - <<'PYTHON'\n{block.text}PYTHON\n"
                )
        return "\n".join(parts)


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
    """``pipelinejobs up`` on a free port, on the in-process bus or on RabbitMQ, started as
    ``make run`` starts it: in a fresh folder, without ``--data-dir``."""
    folder = tmp_path_factory.mktemp(request.param)
    process = start_up(None, cwd=folder, bus=request.param)
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
class Walked:
    """What the walkthrough's blocks printed, run as written on one system."""

    up: UpProcess
    outputs: dict[int, str]
    """Each block's output, by block index."""
    folder: Path

    def after(self, marker: str) -> str:
        return self.outputs[DOC.shell_block(marker)]

    def json_after(self, marker: str) -> Any:
        return json.loads(self.after(marker))


@pytest.fixture(scope="module")
def walked(up: UpProcess) -> Walked:
    """The walkthrough typed as written in a second shell, in the system's folder (with the
    repository's ``.venv``), once per system; the first test to read it on a fresh system."""
    if shutil.which("jq") is None:
        pytest.fail("the walkthrough's shell steps need jq (apt-get install jq)")
    folder = up.data_dir.parent
    venv = folder / ".venv"
    if not venv.exists():
        venv.symlink_to(Path(sys.prefix), target_is_directory=True)
    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", DOC.script()],
        cwd=folder,
        env=clean_environment(PIPELINEJOBS_URL=up.url),
        capture_output=True,
        text=True,
        timeout=WALK_LIMIT,
        check=False,
    )
    outputs: dict[int, str] = {}
    for chunk in ran.stdout.split(f"{_MARK} ")[1:]:
        number, _, output = chunk.partition("\n")
        outputs[int(number)] = output
    assert ran.returncode == 0, (
        f"the walkthrough's block {max(outputs, default=-1)} failed:\n{ran.stdout}\n"
        f"{ran.stderr}\n{up.logs()[-5000:]}"
    )
    return Walked(up, outputs, folder)


def normalized(text: str, url: str) -> str:
    """Text with what differs on every installation replaced by its kind."""
    for address in (url, "http://127.0.0.1:8000"):
        text = text.replace(address, "$PJ") if address else text
    text = _DATE.sub("<date>", text)
    text = _UPDATE_TOKEN.sub("<token>", text)
    return re.sub(r"(?m)^<date> [A-Za-z0-9]{13} ", "<date> <execution> ", text)


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


def test_up_prints_its_url_and_a_token_and_the_token_issued_again_works(
    up: UpProcess, walked: Walked
) -> None:
    assert (urlsplit(up.url).port or 0) > 0  # --port 0: the port it bound, not the one asked
    assert f"pipelinejobs is up at {up.url}" in up.banner
    assert any(line.startswith("export PIPELINEJOBS_TOKEN=") for line in up.banner)
    assert any("pipelinejobs token issue" in line for line in up.banner)
    assert walked.after("$(.venv/bin/pipelinejobs token issue)") == ""  # step 0 ran, quietly


def test_the_demo_pipeline_is_there(walked: Walked) -> None:
    listed = walked.json_after("$PJ/pipelines | jq")
    assert listed == DOC.json_answer("$PJ/pipelines | jq")


def test_step1_creates_the_pipeline_and_its_logs_say_so(walked: Walked) -> None:
    execution_id = walked.after('--data "$(jq -c . my_pipeline.json)"').strip()
    assert _EXECUTION_ID.match(execution_id), execution_id
    assert _EXECUTION_ID.match(DOC.answer('--data "$(jq -c . my_pipeline.json)"').strip())

    shown = DOC.answer("logs pipelines-manager $EXECUTION --wait\n")
    printed = walked.after("logs pipelines-manager $EXECUTION --wait\n")
    assert normalized(printed, walked.up.url).strip() == normalized(shown, "").strip()


def test_step1_keeps_the_pipeline_uuid_and_token_and_updates_it(
    walked: Walked, client: httpx.Client
) -> None:
    uuid_and_token = walked.after("echo $PIPELINE $PIPELINE_TOKEN").split()
    shown = DOC.answer("echo $PIPELINE $PIPELINE_TOKEN").split()
    assert uuid_and_token[0] == shown[0]  # the same on every installation
    assert _UPDATE_TOKEN.fullmatch(uuid_and_token[1])

    updated = walked.after("?token=$PIPELINE_TOKEN")
    assert (
        normalized(updated, walked.up.url).strip()
        == normalized(DOC.answer("?token=$PIPELINE_TOKEN"), "").strip()
    )
    assert f"with update token {uuid_and_token[1]}" in updated
    stored = client.get(f"/pipelines/{shown[0]}").json()
    assert [event["name"] for event in stored["history"]][:2] == ["create", "update"]


def test_step2_launches_the_documented_job(walked: Walked) -> None:
    launched = walked.json_after("--data @launch.json")
    shown = DOC.json_answer("--data @launch.json")
    assert launched["status"] == shown["status"] == "COMPLETE"
    assert set(launched["result"]) == set(shown["result"])
    for same in ("uuid", "archive_system"):  # the job's uuid comes from what is launched
        assert launched["result"][same] == shown["result"][same]
    assert (
        launched["result"]["archive_path"].rsplit("/", 1)[0]
        == (shown["result"]["archive_path"].rsplit("/", 1)[0])
    )
    callback = launched["result"]["callback"]
    assert callback.startswith(f"{walked.up.url}/actors/v2/jobs-manager/messages?uuid=")
    assert callback.endswith("&status=${JOB_STATUS}")


def test_step3_the_job_finishes_and_is_indexed(walked: Walked) -> None:
    marker = "jq '{uuid, state, last_event, history: [.history[].name]}'"
    job, shown = walked.json_after(marker), DOC.json_answer(marker)
    assert {k: job[k] for k in ("uuid", "state", "last_event")} == {
        k: shown[k] for k in ("uuid", "state", "last_event")
    }
    walk = job["history"]
    assert walk[0] == "create"
    assert walk[-3:] == ["finish", "index", "indexed"]
    assert "run" in walk
    assert set(walk[1:-3]) <= {"run"} | QUIET_EVENTS


def test_step3_lists_the_output_files_and_reads_one(walked: Walked) -> None:
    file = walked.json_after('generated_by=$JOB" | jq')
    shown = DOC.json_answer('generated_by=$JOB" | jq')
    assert file["name"].rsplit("/", 1)[1] == shown["name"].rsplit("/", 1)[1]
    assert {k: file[k] for k in ("level", "type", "storage_system")} == {
        k: shown[k] for k in ("level", "type", "storage_system")
    }
    tacos = walked.json_after("cat data/storage/data-sd2e-community")
    assert tacos == DOC.json_answer("cat data/storage/data-sd2e-community")


def test_step4_an_event_sent_as_url_parameters_is_recorded_with_the_body_as_data(
    walked: Walked,
) -> None:
    assert walked.json_after("event=validate") == DOC.json_answer("event=validate")
    documented = DOC.value(r"jobs events \$JOB\s+# a table: (.+)").split(", ")
    table = walked.after("jobs events $JOB")
    for event in documented:
        assert re.search(rf"\b{event}\b", table), (event, table)


def test_step5_a_job_whose_input_is_missing_fails_while_staging_with_the_reason(
    walked: Walked,
) -> None:
    job = walked.json_after("@failing.json")
    shown = DOC.json_answer("@failing.json")
    assert (job["state"], job["history"][0], job["history"][-1]) == (
        shown["state"],
        "create",
        "fail",
    )
    assert job["reason"] == shown["reason"]


def test_step5_a_job_whose_app_fails_ends_failed_with_the_apps_reason(walked: Walked) -> None:
    assert walked.json_after("@picture.json") == DOC.json_answer("@picture.json")


def test_the_cli_and_sdk_section_runs_as_written_after_the_steps_before_it(
    walked: Walked, client: httpx.Client
) -> None:
    printed = walked.after("pipelines show $PIPELINE")
    pipeline = DOC.answer("echo $PIPELINE $PIPELINE_TOKEN").split()[0]
    assert f"Updated pipeline {pipeline}: description" in printed
    assert "Created pipeline 106" in printed
    assert " COMPLETE" in printed
    changes = json.loads((walked.folder / "changes.json").read_text())
    assert client.get(f"/pipelines/{pipeline}").json()["description"] == changes["description"]
    python = next(i for i, block in enumerate(DOC.blocks) if block.language == "python")
    assert "'name': 'finish'" in walked.outputs[python]


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
