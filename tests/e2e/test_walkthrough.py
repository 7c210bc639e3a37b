"""``docs/walkthrough.md``, step by step, against ``pipelinejobs up`` running as a subprocess.

Each request is the walkthrough's ``curl`` call (a JSON body labelled as a form, as ``curl
--data`` sends it), over real HTTP; the compute jobs run on the local execution system, which
calls back over HTTP. The same walkthrough runs on the in-process bus and on RabbitMQ.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pipelinejobs_up import (
    UpProcess,
    delete_namespace,
    start_up,
    wait_for_execution,
    wait_for_job,
)

CURL = {"Content-Type": "application/x-www-form-urlencoded"}
SYSTEM = "data-sd2e-community"
MY_PIPELINE = {
    "name": "Tacobot 9001",
    "description": "Creates even better breakfast tacos out of silicon, ozone, and shredded GPUs",
    "components": [
        {"id": "e1LqaqMyqq4xB", "opts": {"cheese": True, "salsa": True, "eggs": False}},
        {"id": "bbq-brisket-0.5.0", "parameters": {"smoke": True, "quantity": 4}},
    ],
    "processing_levels": ["1"],
    "accepts": ["CSV"],
    "produces": ["PNG"],
}
LAUNCH = {
    "parameters": {"sample_id": "sample.tacc.abcde"},
    "job_definition": {
        "appId": "tacobot9000-0.1.0u1",
        "name": "TACObot job",
        "inputs": {"file1": "agave://data.tacc.cloud/examples/tacobot/test1.txt"},
        "parameters": {"salsa": True, "avocado": False, "cheese": True},
        "maxRunTime": "01:00:00",
    },
    "processing_level": "2",
}
FAILING = {
    "parameters": {"measurement_id": "measurement.tacc.3456"},
    "job_definition": {
        "appId": "wordcount-0.1.0",
        "name": "count the words of a missing file",
        "inputs": {"files": ["agave://data-sd2e-community/examples/wordcount/missing.txt"]},
        "parameters": {"min_length": 3},
    },
}
QUIET_EVENTS = {"resource", "update"}


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


def names(job: dict[str, Any]) -> list[str]:
    return [event["name"] for event in job["history"]]


def test_up_prints_its_url_and_a_token_and_loads_the_demo(
    up: UpProcess, client: httpx.Client
) -> None:
    assert f"pipelinejobs is up at {up.url}" in up.banner
    assert any(line.startswith("export PIPELINEJOBS_TOKEN=") for line in up.banner)

    pipelines = client.get("/pipelines").json()["items"]

    demo = [p for p in pipelines if p["name"] == "PipelineJobs demo: example apps"]
    assert [[c["id"] for c in p["components"]] for p in demo] == [
        ["tacobot9000-0.1.0u1", "wordcount-0.1.0"]
    ]


def test_create_and_update_a_pipeline(client: httpx.Client) -> None:
    created = post(client, "pipelines-manager", MY_PIPELINE)
    result = completed(client, "pipelines-manager", created)["result"]
    pipeline, token = result["uuid"], result["token"]
    assert "Action selected: create" in logs(client, "pipelines-manager", created)
    assert f"Created pipeline {pipeline} with update token {token}" in logs(
        client, "pipelines-manager", created
    )

    changed = {**MY_PIPELINE, "description": "Breakfast tacos, now with updates"}
    updated = post(client, "pipelines-manager", changed, token=token)

    completed(client, "pipelines-manager", updated)
    assert f"Updated pipeline {pipeline} with update token {token}" in logs(
        client, "pipelines-manager", updated
    )
    stored = client.get(f"/pipelines/{pipeline}").json()
    assert stored["description"] == "Breakfast tacos, now with updates"
    assert [event["name"] for event in stored["history"]] == ["create", "update"]


def test_a_launched_job_runs_calls_back_finishes_and_is_indexed(
    up: UpProcess, client: httpx.Client
) -> None:
    launched = launch(client, LAUNCH)
    job_uuid = launched["uuid"]
    assert launched["job_id"]
    assert "&status=${JOB_STATUS}" in launched["callback"]

    job = wait_for_job(client, job_uuid, lambda j: j["last_event"] in ("indexed", "fail"))

    assert job["state"] == "FINISHED"
    walk = names(job)
    assert walk[0] == "create"
    assert walk[-3:] == ["finish", "index", "indexed"]
    assert "run" in walk
    assert set(walk[1:-3]) <= {"run"} | QUIET_EVENTS
    assert len(job["derived_from"]) == 2  # the sample's two measurements
    assert job["generated_by"] == [job["pipeline_uuid"]]
    files = client.get("/files", params={"generated_by": job_uuid}).json()["items"]
    assert [(f["name"], f["level"], f["storage_system"]) for f in files] == [
        (f"{job['archive_path']}/tacos.json", "2", SYSTEM)
    ]
    archived = up.data_dir / "storage" / SYSTEM / job["archive_path"].lstrip("/") / "tacos.json"
    assert json.loads(archived.read_text())["note"] == "Two tacos for table 7, extra salsa"


def test_an_event_sent_as_url_parameters_is_recorded_with_the_body_as_data(
    client: httpx.Client,
) -> None:
    launched = launch(client, LAUNCH)
    wait_for_job(client, launched["uuid"], lambda j: j["last_event"] in ("indexed", "fail"))

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
    assert job["state"] == "VALIDATING"
    assert (job["history"][-1]["name"], job["history"][-1]["data"]) == (
        "validate",
        {"reviewer": "alice"},
    )


def test_a_failing_app_ends_failed_with_the_reason_in_the_history(client: httpx.Client) -> None:
    launched = launch(client, FAILING)

    job = wait_for_job(client, launched["uuid"], lambda j: j["state"] == "FAILED")

    assert names(job)[0] == "create"
    assert names(job)[-1] == "fail"
    reason = job["history"][-1]["data"]
    assert reason["status"] == "FAILED"
    assert "examples/wordcount/missing.txt" in reason["description"]


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
    assert names(job) == ["create", "fail"]
    assert "quantity: 0 is less than the minimum of 1" in job["history"][-1]["data"]["error"]


def test_launching_the_same_job_again_is_refused(client: httpx.Client) -> None:
    launched = launch(client, LAUNCH)
    wait_for_job(client, launched["uuid"], lambda j: j["last_event"] in ("indexed", "fail"))
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
        wait_for_job(client, launched["uuid"], lambda j: j["last_event"] in ("indexed", "fail"))
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
