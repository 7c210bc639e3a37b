"""Compute-service callbacks without ``X-Message-Id``: a retried one is applied once.

Agave retries a notification it got no reply to, with no idempotency key. The gateway keys such
a callback by what it carries (job id, status, ``lastUpdated``, and the callback URL), so the
retry is the same message: the same execution, one event in the job's history.
"""

from __future__ import annotations

from typing import Any

from gateway_harness import Served, ServeGateway
from pipelinejobs.application.ledger import history as stored_history
from pipelinejobs.application.ledger import history_event
from pipelinejobs.domain.identifiers import UUIDType, typed_uuid

PIPELINE = typed_uuid("gateway callback keys pipeline", UUIDType.PIPELINE)
JOB = typed_uuid("gateway callback keys job", UUIDType.PIPELINEJOB)
ARCHIVE = "/products/v2/106c46ff81865756a934071f4497b58d/PAVpwrwq/Y2FsbGJh"


async def running_job(served: Served) -> str:
    """A RUNNING job; its update token."""
    events = [history_event(name, {}, domain="sd2e.org") for name in ("create", "run")]
    body = {
        "uuid": JOB,
        "pipeline_uuid": PIPELINE,
        "archive_path": ARCHIVE,
        "archive_system": "data-sd2e-community",
        "archive_patterns": [],
        "data": {},
        "derived_from": [],
        "generated_by": [PIPELINE],
        "history": events,
        "last_event": "run",
        "state": "RUNNING",
        "session": "casual-bass",
        "updated": events[-1]["date"],
        "created": events[0]["date"],
    }
    await served.system.store.create_document("jobs", body, message_id="callback-keys-setup")
    return served.system.update_tokens.issue(JOB)


def record(status: str, last_updated: str) -> dict[str, Any]:
    return {
        "id": "6215836452521078295-242ac11b-0001-007",
        "appId": "tacobot9000-0.1.0u1",
        "executionSystem": "hpc-tacc-stampede2",
        "owner": "alice",
        "archivePath": ARCHIVE,
        "archiveSystem": "data-sd2e-community",
        "status": status,
        "lastUpdated": last_updated,
        "inputs": {},
        "parameters": {},
        "_links": {"self": {"href": "https://api.example.org/jobs/v2/6215836452521078295"}},
    }


async def callback(served: Served, url: str, body: dict[str, Any]) -> str:
    """POST like Agave (no X-Message-Id); the execution id once it completed."""
    response = await served.client.post(url, json=body)
    execution = await served.wait_reply(response)
    assert execution["status"] == "COMPLETE", execution["error"]
    return str(execution["id"])


async def updates(served: Served) -> list[dict[str, Any]]:
    history = await stored_history(served.system.store, "jobs", JOB)
    return [event for event in history if event["name"] == "update"]


async def test_a_retried_agave_callback_is_one_message_applied_once(
    make_system: Any, serve_gateway: ServeGateway
) -> None:
    served = await serve_gateway(await make_system())
    token = await running_job(served)
    nonce = await served.new_nonce("jobs-manager", user="alice")
    url = (
        f"/actors/v2/jobs-manager/messages?x-nonce={nonce}&token={token}&uuid={JOB}"
        "&status=${JOB_STATUS}"
    )
    heartbeat = record("HEARTBEAT", "2026-12-06T05:00:00.000-06:00")

    first = await callback(served, url, heartbeat)
    retried = await callback(served, url, heartbeat)  # Agave never saw the first reply

    assert retried == first
    assert len(await updates(served)) == 1


async def test_distinct_agave_callbacks_are_distinct_messages(
    make_system: Any, serve_gateway: ServeGateway
) -> None:
    served = await serve_gateway(await make_system())
    token = await running_job(served)
    nonce = await served.new_nonce("jobs-manager", user="alice")
    url = (
        f"/actors/v2/jobs-manager/messages?x-nonce={nonce}&token={token}&uuid={JOB}"
        "&status=${JOB_STATUS}"
    )

    executions = {
        await callback(served, url, record("HEARTBEAT", "2026-12-06T05:00:00.000-06:00")),
        await callback(served, url, record("HEARTBEAT", "2026-12-06T05:00:01.000-06:00")),
        await callback(served, url, record("UPDATED", "2026-12-06T05:00:01.000-06:00")),
        await callback(served, f"{url}&note=x", record("UPDATED", "2026-12-06T05:00:01.000-06:00")),
    }

    assert len(executions) == 4
    assert len(await updates(served)) == 4


async def test_a_record_without_last_updated_has_no_natural_key(
    make_system: Any, serve_gateway: ServeGateway
) -> None:
    served = await serve_gateway(await make_system())
    token = await running_job(served)
    nonce = await served.new_nonce("jobs-manager", user="alice")
    url = f"/actors/v2/jobs-manager/messages?x-nonce={nonce}&token={token}&uuid={JOB}"
    body = record("HEARTBEAT", "")
    del body["lastUpdated"]

    assert await callback(served, url, body) != await callback(served, url, body)
    assert len(await updates(served)) == 2
