"""Process logs never hold Bearer tokens, nonces or update tokens, yet log every request.

The real pipelines-manager registers pipelines, so its execution logs carry the documented line
``Created pipeline <uuid> with update token <token>``: the sender reads the token there, while
the process log (JSON lines on stderr, as a deployed process writes them) shows the same line
with the token redacted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from gateway_harness import Served, ServeGateway
from pipelinejobs.actors.pipelines_manager import PipelinesManager
from pipelinejobs.logs import REDACTED, configure_logging

ACTOR = "pipelines-manager"
MESSAGES = f"/actors/v2/{ACTOR}/messages"


@pytest.fixture
def stderr_json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """Process logs configured as a deployed process has them: JSON lines on stderr (captured);
    configured before anything logs, since loggers are made when first used."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging("DEBUG", json_lines=True)
    yield capsys
    structlog.reset_defaults()
    root.handlers, root.level = handlers, level


async def created_pipeline(served: Served, response: Any, **auth: Any) -> tuple[str, str]:
    """The pipeline's uuid and update token, from its execution; checks the sender reads the
    token in that execution's log, as the documentation shows."""
    execution = await served.wait_reply(response)
    assert execution["status"] == "COMPLETE", execution["error"]
    uuid, token = execution["result"]["uuid"], execution["result"]["token"]
    logs = await served.client.get(f"/actors/v2/{ACTOR}/executions/{execution['id']}/logs", **auth)
    assert logs.status_code == 200, logs.text
    assert f"Created pipeline {uuid} with update token {token}" in logs.json()["result"]["logs"]
    return uuid, token


async def test_secrets_stay_out_of_the_process_log_and_in_the_senders_execution_log(
    stderr_json_logs: pytest.CaptureFixture[str],
    make_system: Any,
    serve_gateway: ServeGateway,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)  # aiosqlite logs SQL parameters at DEBUG (see report)
    system = await make_system(actors=[PipelinesManager()])
    served = await serve_gateway(system)
    bearer = served.token("alice")
    with_bearer = {"headers": {"Authorization": f"Bearer {bearer}"}}
    nonce = await served.new_nonce(ACTOR)
    with_nonce = {"params": {"x-nonce": nonce}}

    by_bearer = await served.client.post(
        MESSAGES, json={"name": "Logged", "components": [{"id": "log-app-1"}]}, **with_bearer
    )
    by_nonce = await served.client.post(
        MESSAGES, json={"name": "Logged too", "components": [{"id": "log-app-2"}]}, **with_nonce
    )
    pipeline, token = await created_pipeline(served, by_bearer, **with_bearer)
    other_pipeline, other_token = await created_pipeline(served, by_nonce, **with_nonce)
    updated = await served.client.post(
        f"{MESSAGES}?uuid={pipeline}&token={token}",
        json={"name": "Logged", "components": [{"id": "log-app-1"}], "description": "new"},
        **with_bearer,
    )
    assert (await served.wait_reply(updated))["status"] == "COMPLETE"
    refused = await served.client.get("/jobs", headers={"Authorization": f"Bearer {bearer}x"})
    deleted = await served.client.delete(f"/actors/v2/{ACTOR}/nonces/{nonce}", **with_bearer)
    assert (refused.status_code, deleted.status_code) == (401, 200)

    process_log = stderr_json_logs.readouterr().err
    lines = [json.loads(line) for line in process_log.splitlines() if line.startswith("{")]
    events = [str(line["event"]) for line in lines]
    assert f"Created pipeline {pipeline} with update token {REDACTED}" in events
    assert f"Created pipeline {other_pipeline} with update token {REDACTED}" in events
    server_records = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert any(r.name.startswith("uvicorn") for r in server_records)  # the capture works
    output = process_log + "\n".join(r.getMessage() for r in server_records)
    for secret in (bearer, nonce, token, other_token):
        assert secret not in output
    logged = {
        (line["method"], line["path"], line["status"])
        for line in lines
        if line["event"] == "http request"
    }
    assert ("POST", MESSAGES, 200) in logged
    assert ("GET", "/jobs", 401) in logged
    assert ("DELETE", f"/actors/v2/{ACTOR}/nonces/{REDACTED}", 200) in logged
