"""Process logs never hold Bearer tokens, nonces or update tokens, yet log every request."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from gateway_harness import Recorder, ServeGateway
from pipelinejobs.domain.identifiers import UUIDType, typed_uuid
from pipelinejobs.logs import configure_logging

ACTOR = Recorder.alias
JOB = typed_uuid("gateway log test job", UUIDType.PIPELINEJOB)
UPDATE_TOKEN = "0dc73dc3ff39b49a"


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Process logs as a deployed process writes them (the same processors), into a buffer;
    configured before anything logs, since loggers bind the configuration when made."""
    configure_logging("DEBUG", json_lines=True)
    buffer = io.StringIO()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=buffer))
    yield buffer
    structlog.reset_defaults()


async def test_requests_with_secrets_leave_none_in_the_process_log(
    json_logs: io.StringIO,
    make_system: Any,
    serve_gateway: ServeGateway,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)  # aiosqlite logs SQL parameters at DEBUG (see report)
    system = await make_system(actors=[Recorder()])
    served = await serve_gateway(system)
    bearer = served.token("alice")
    nonce = await served.new_nonce(ACTOR)

    by_bearer = await served.client.post(
        f"/actors/v2/{ACTOR}/messages?uuid={JOB}&token={UPDATE_TOKEN}&event=finish",
        json={"uuid": JOB, "token": UPDATE_TOKEN, "name": "finish"},
        headers={"Authorization": f"Bearer {bearer}"},
    )
    by_nonce = await served.client.post(
        f"/actors/v2/{ACTOR}/messages?x-nonce={nonce}&token={UPDATE_TOKEN}", json={}
    )
    await served.wait_reply(by_bearer)
    await served.wait_reply(by_nonce)
    refused = await served.client.get("/jobs", headers={"Authorization": f"Bearer {bearer}x"})
    deleted = await served.client.delete(
        f"/actors/v2/{ACTOR}/nonces/{nonce}", headers={"Authorization": f"Bearer {bearer}"}
    )
    assert (refused.status_code, deleted.status_code) == (401, 200)

    process_log = json_logs.getvalue()
    server_records = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert any(r.name.startswith("uvicorn") for r in server_records)  # the capture works
    output = process_log + "\n".join(r.getMessage() for r in server_records)
    for secret in (bearer, nonce, UPDATE_TOKEN):
        assert secret not in output
    access = [
        json.loads(line)
        for line in process_log.splitlines()
        if line.startswith("{") and '"http request"' in line
    ]
    logged = {(entry["method"], entry["path"], entry["status"]) for entry in access}
    assert ("POST", f"/actors/v2/{ACTOR}/messages", 200) in logged
    assert ("GET", "/jobs", 401) in logged
    assert ("DELETE", f"/actors/v2/{ACTOR}/nonces/[REDACTED]", 200) in logged
