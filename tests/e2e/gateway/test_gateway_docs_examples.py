"""The documentation's ``curl`` examples, sent as curl sends them, against the real actors.

``curl --data`` labels its body ``application/x-www-form-urlencoded``; each request below is
the documented one with only the host (and the job's uuid and token) changed. Each waits for
the execution and checks the stored job (and, for the indexer, the stored files).
"""

from __future__ import annotations

from typing import Any

import pytest
from gateway_harness import Served, ServeGateway, assert_problem
from pipelinejobs.application.ledger import history, history_event
from pipelinejobs.domain.derived_ids import follow_up_message_id, sender_message_id
from pipelinejobs.domain.executions import execution_id_for
from pipelinejobs.domain.identifiers import UUIDType, file_uuid, typed_uuid
from pipelinejobs.host.bootstrap import System

CURL = {"Content-Type": "application/x-www-form-urlencoded"}
SYSTEM = "data-sd2e-community"
PIPELINE = typed_uuid("gateway docs pipeline", UUIDType.PIPELINE)
JOB = typed_uuid("gateway docs job", UUIDType.PIPELINEJOB)
ARCHIVE = "/products/v2/106c46ff81865756a934071f4497b58d/PAVpwrwq/Mzg0ZDE2"
OUTPUTS = {
    "sample.uw_biofab.141715.fcs": b"FCS3.0",
    "sample-uw_biofab-141715.csv": b"a,b\n",
    "sample.uw_biofab.999999.fcs": b"FCS3.0",
}
MATCHING = [f"{ARCHIVE}/sample-uw_biofab-141715.csv", f"{ARCHIVE}/sample.uw_biofab.141715.fcs"]


@pytest.fixture
async def docs(make_system: Any, serve_gateway: ServeGateway) -> Served:
    """The gateway around the four real actors on the embedded bus."""
    return await serve_gateway(await make_system())


async def store_job(system: System, state: str) -> str:
    """A job as the jobs-manager leaves it in ``state``, with its outputs archived."""
    names = {
        "CREATED": ["create"],
        "RUNNING": ["create", "run"],
        "FINISHED": ["create", "run", "finish"],
    }[state]
    events = [history_event(name, {}, domain="sd2e.org") for name in names]
    body = {
        "uuid": JOB,
        "pipeline_uuid": PIPELINE,
        "archive_path": ARCHIVE,
        "archive_system": SYSTEM,
        "archive_patterns": [],
        "data": {},
        "derived_from": [],
        "generated_by": [PIPELINE],
        "history": events,
        "last_event": names[-1],
        "state": state,
        "session": "casual-bass",
        "updated": events[-1]["date"],
        "created": events[0]["date"],
        "owner": "user:alice",
    }
    await system.store.create_document("jobs", body, message_id=f"create-{JOB}")
    for name, content in OUTPUTS.items():
        await system.storage.write_bytes(SYSTEM, f"{ARCHIVE}/{name}", content)
    return system.update_tokens.issue(JOB)


async def stored_job(system: System) -> dict[str, Any]:
    job = await system.store.get_document("jobs", JOB)
    assert job is not None
    return {**job.body, "history": await history(system.store, "jobs", JOB)}


async def completed(served: Served, response: Any) -> dict[str, Any]:
    execution = await served.wait_reply(response)
    assert execution["status"] == "COMPLETE", execution["error"]
    return execution


# -- jobs-manager: "Update Job State" and "HTTP Authentication" -------------------------------


async def test_finish_event_as_json_with_a_bearer_token(
    make_system: Any, serve_gateway: ServeGateway, bus_backend: str
) -> None:
    served = await serve_gateway(await make_system(bus=bus_backend))
    token = await store_job(served.system, "RUNNING")

    # curl -XPOST -H "Authorization: Bearer ..." --data '{"uuid": ..., "token": ..., "name":
    # "finish"}' https://<tenantUrl>/actors/v2/<actorId>/messages
    response = await served.client.post(
        "/actors/v2/jobs-manager/messages",
        content=f'{{"uuid": "{JOB}", \\\n"token": "{token}",\\\n"name": "finish"}}'.replace(
            "\\\n", ""
        ),
        headers=CURL | served.bearer("alice"),
    )

    execution = await completed(served, response)
    assert execution["result"]["state"] == "FINISHED"
    job = await stored_job(served.system)
    assert (job["state"], job["last_event"]) == ("FINISHED", "finish")
    assert job["history"][-1]["name"] == "finish"


async def test_finish_event_as_url_parameters_attaches_the_body_as_data(docs: Served) -> None:
    token = await store_job(docs.system, "RUNNING")

    # curl -XPOST --data '{"arbitrary": "key value data"}' \
    #   .../messages?uuid=<job>&event=finish&token=<token>
    response = await docs.client.post(
        f"/actors/v2/jobs-manager/messages?uuid={JOB}&event=finish&token={token}",
        content=b'{"arbitrary": "key value data"}',
        headers=CURL | docs.bearer("alice"),
    )

    await completed(docs, response)
    job = await stored_job(docs.system)
    assert job["state"] == "FINISHED"
    assert job["history"][-1]["name"] == "finish"
    assert job["history"][-1]["data"] == {"arbitrary": "key value data"}


async def test_finish_event_with_a_nonce_instead_of_a_bearer_token(docs: Served) -> None:
    token = await store_job(docs.system, "RUNNING")
    nonce = await docs.new_nonce("jobs-manager", user="alice", maxUses=1)

    # curl -XPOST --data '{"arbitrary": "key value data"}' \
    #   .../messages?uuid=<job>&name=finish&token=<token>&x-nonce=TACC_XXXXxxxxYz
    response = await docs.client.post(
        f"/actors/v2/jobs-manager/messages?uuid={JOB}&name=finish&token={token}&x-nonce={nonce}",
        content=b'{"arbitrary": "key value data"}',
        headers=CURL,
    )

    execution = await completed(docs, response)
    assert execution["sender"] == "nonce:alice"
    job = await stored_job(docs.system)
    assert job["state"] == "FINISHED"
    assert job["history"][-1]["data"] == {"arbitrary": "key value data"}


async def test_compute_service_callback_to_the_webhook_url(docs: Served) -> None:
    """The Agave job record posted to the job's callback URL (``build_webhook``'s shape)."""
    token = await store_job(docs.system, "CREATED")
    nonce = await docs.new_nonce("jobs-manager", user="alice")
    record = {
        "id": "6215836452521078295-242ac11b-0001-007",
        "appId": "tacobot9000-0.1.0u1",
        "executionSystem": "hpc-tacc-stampede2",
        "owner": "alice",
        "archivePath": ARCHIVE,
        "archiveSystem": SYSTEM,
        "status": "RUNNING",
        "inputs": {},
        "parameters": {},
        "_links": {"self": {"href": "https://api.example.org/jobs/v2/6215836452521078295"}},
        "retries": 0,
    }

    response = await docs.client.post(
        f"/actors/v2/jobs-manager/messages?x-nonce={nonce}&token={token}&uuid={JOB}"
        "&session=casual-bass&status=${JOB_STATUS}",
        json=record,
    )

    await completed(docs, response)
    job = await stored_job(docs.system)
    assert (job["state"], job["last_event"]) == ("RUNNING", "run")
    run_data = job["history"][-1]["data"]
    assert run_data["appId"] == "tacobot9000-0.1.0u1"
    assert "_links" not in run_data


async def test_a_wrong_update_token_ends_the_execution_as_error(docs: Served) -> None:
    await store_job(docs.system, "RUNNING")

    response = await docs.client.post(
        f"/actors/v2/jobs-manager/messages?uuid={JOB}&event=finish&token=0dc73dc3ff39b49a",
        headers=docs.bearer("alice"),
    )

    execution = await docs.wait_reply(response)
    assert execution["status"] == "ERROR"
    assert "token" in execution["error"]
    assert (await stored_job(docs.system))["state"] == "RUNNING"


# -- jobs-indexer: "Index Request as JSON" and "as URL Params" --------------------------------


async def indexed_files(served: Served, response: Any) -> list[dict[str, Any]]:
    """Wait for the index execution and the ``indexed`` it sends; the job's files.

    The ``indexed`` execution is recorded only once the jobs-manager takes the follow-up, which
    may be after the index execution completes: waiting on it waits for it to appear.
    """
    execution = await completed(served, response)
    follow_up = await served.system.wait(
        execution_id_for(follow_up_message_id(execution["message_id"], 1))
    )
    assert follow_up["status"] == "COMPLETE", follow_up["error"]
    job = await stored_job(served.system)
    assert job["state"] == "FINISHED"
    assert [e["name"] for e in job["history"]][-2:] == ["index", "indexed"]
    return await served.system.store.find_files(generated_by=JOB)


async def test_index_request_as_json_with_url_encoded_filters_at_level_2(docs: Served) -> None:
    token = await store_job(docs.system, "FINISHED")
    request = (
        f'{{"uuid": "{JOB}", "name": "index", "filters": ["sample%5C.uw_biofab%5C.141715", '
        f'"sample-uw_biofab-141715"], "level": "2", "token": "{token}"}}'
    )

    response = await docs.client.post(
        "/actors/v2/jobs-indexer/messages", content=request, headers=CURL | docs.bearer()
    )

    files = await indexed_files(docs, response)
    assert sorted(f["name"] for f in files) == MATCHING
    assert {f["level"] for f in files} == {"2"}
    assert {f["uuid"] for f in files} == {file_uuid(name) for name in MATCHING}


async def test_index_request_as_url_parameters_with_a_filters_body(docs: Served) -> None:
    token = await store_job(docs.system, "FINISHED")

    # curl -XPOST .../messages?uuid=<job>&level=2&token=<token>&name=index \
    #   --data '{"filters": ["sample.uw_biofab.141715", "sample-uw_biofab-141715"]}'
    response = await docs.client.post(
        f"/actors/v2/jobs-indexer/messages?uuid={JOB}&level=2&token={token}&name=index",
        content=b'{"filters": ["sample.uw_biofab.141715", "sample-uw_biofab-141715"]}',
        headers=CURL | docs.bearer(),
    )

    files = await indexed_files(docs, response)
    assert sorted(f["name"] for f in files) == MATCHING
    assert {f["level"] for f in files} == {"2"}


async def test_schema_errors_are_refused_with_422_before_anything_is_queued(docs: Served) -> None:
    """The actors' synchronous checks run in the gateway: each problem names its JSON path, and
    nothing is submitted: no execution exists for any refused message (an actor that took one
    would have recorded it), and the stored job is unchanged."""
    await store_job(docs.system, "FINISHED")
    before = await docs.system.store.get_document("jobs", JOB)
    refusals: list[tuple[str, dict[str, Any], Any]] = [
        (
            "/actors/v2/jobs-manager/messages",
            {"uuid": "not-a-job-uuid", "name": "finish", "token": "0dc73dc3ff39b49a"},
            lambda problem: any("$.uuid" in line for line in problem["errors"]),
        ),
        (
            f"/actors/v2/jobs-indexer/messages?uuid={JOB}&name=index&token=0dc73dc3ff39b49a",
            {"filters": ["(unclosed"]},
            lambda problem: "filters[0]" in problem["detail"],
        ),
        (
            "/actors/v2/pipelines-manager/messages",
            {"name": "no components"},
            lambda problem: any("components" in line for line in problem["errors"]),
        ),
    ]

    for number, (url, body, names_the_field) in enumerate(refusals):
        headers = docs.bearer("alice") | {"X-Message-Id": f"refused-{number}"}
        problem = assert_problem(await docs.client.post(url, json=body, headers=headers), 422)
        assert names_the_field(problem), problem

    for number in range(len(refusals)):
        message_id = sender_message_id("user:alice", f"refused-{number}")
        assert await docs.system.store.get_execution(execution_id_for(message_id)) is None
    assert await docs.system.store.get_document("jobs", JOB) == before
    assert await docs.system.store.count_documents("pipelines") == 0


# -- refusals that say what was wrong first --------------------------------------------------


async def test_an_unknown_event_is_refused_with_422_before_anything_is_recorded(
    docs: Served,
) -> None:
    """``finsh`` as a URL parameter and in a JSON event, with a nonce of one use: 422 naming the
    event and the events the jobs-manager accepts; no execution, the job unchanged, and the
    nonce's use given back (the real ``finish`` that follows still has it)."""
    token = await store_job(docs.system, "RUNNING")
    before = await docs.system.store.get_document("jobs", JOB)
    nonce = await docs.new_nonce("jobs-manager", user="alice", maxUses=1)
    attempts = [
        (f"?uuid={JOB}&event=finsh&token={token}&x-nonce={nonce}", b'{"note": "done"}', CURL),
        (
            f"?x-nonce={nonce}",
            f'{{"uuid": "{JOB}", "name": "finsh", "token": "{token}"}}'.encode(),
            {"Content-Type": "application/json"},
        ),
        (f"?uuid={JOB}&name=FINSH&token={token}&x-nonce={nonce}", b"", {}),
    ]

    for number, (query, body, headers) in enumerate(attempts):
        response = await docs.client.post(
            f"/actors/v2/jobs-manager/messages{query}",
            content=body,
            headers=headers | {"X-Message-Id": f"finsh-{number}"},
        )
        problem = assert_problem(response, 422, "'finsh' is unknown", "did you mean 'finish'")
        assert problem["detail"].startswith("event 'finsh' is unknown"), problem
        assert "accepts the events run, update, resource, fail, finish, index" in problem["detail"]
        message_id = f"nonce:alice/finsh-{number}"
        assert await docs.system.store.get_execution(execution_id_for(message_id)) is None

    assert await docs.system.store.get_document("jobs", JOB) == before
    assert (await docs.nonce_view("jobs-manager", nonce))["remainingUses"] == 1
    listed = await docs.client.get(
        "/actors/v2/jobs-manager/executions", headers=docs.bearer("alice")
    )
    assert listed.json()["result"]["ids"] == []
    finish = await docs.client.post(
        f"/actors/v2/jobs-manager/messages?uuid={JOB}&event=finish&token={token}&x-nonce={nonce}"
    )
    await completed(docs, finish)
    assert (await stored_job(docs.system))["state"] == "FINISHED"


async def test_a_forbidden_transition_still_names_the_state_and_the_allowed_events(
    docs: Served,
) -> None:
    """A known event the job's state does not accept is the actor's to refuse (the gateway does
    not read the state): the message is accepted, its execution ends in ERROR saying why."""
    token = await store_job(docs.system, "CREATED")

    response = await docs.client.post(
        f"/actors/v2/jobs-manager/messages?uuid={JOB}&event=finish&token={token}",
        headers=docs.bearer("alice"),
    )

    execution = await docs.wait_reply(response)
    assert execution["status"] == "ERROR"
    assert "event 'finish' is not allowed in state CREATED" in execution["error"]
    assert "allowed events: create, run, update, resource, fail, reset" in execution["error"]
    unknown = await docs.client.post(
        f"/actors/v2/jobs-manager/messages?uuid={JOB}&event=finsh&token={token}",
        headers=docs.bearer("alice"),
    )
    assert_problem(unknown, 422, "'finsh' is unknown")


# -- compute callbacks keep what the compute service said ------------------------------------


def agave_record(status: str, nonce: str, token: str) -> dict[str, Any]:
    """An Agave v2 job record as its notifications post it, with our callback among its
    notifications (its URL carries the job's token and the nonce)."""
    callback = (
        f"https://gateway.example/actors/v2/jobs-manager/messages?uuid={JOB}&token={token}"
        f"&x-nonce={nonce}&status=${{JOB_STATUS}}"
    )
    return {
        "id": "6215836452521078295-242ac11b-0001-007",
        "name": "TACObot job",
        "owner": "alice",
        "appId": "tacobot9000-0.1.0u1",
        "executionSystem": "hpc-tacc-stampede2",
        "batchQueue": "normal",
        "archive": True,
        "archivePath": ARCHIVE,
        "archiveSystem": SYSTEM,
        "status": status,
        "lastStatusMessage": f"Job status changed to {status}",
        "created": "2018-12-07T18:08:37.000-06:00",
        "lastUpdated": f"2018-12-07T18:{10 + len(status):02d}:40.000-06:00",
        "inputs": {"file1": "agave://data.tacc.cloud/examples/tacobot/test1.txt"},
        "parameters": {"salsa": True},
        "notifications": [{"event": "*", "persistent": True, "url": callback}],
        "_links": {"self": {"href": "https://api.example.org/jobs/v2/6215836452521078295"}},
        "retries": 0,
    }


async def test_every_compute_callback_keeps_the_agave_record_with_its_secrets_redacted(
    docs: Served,
) -> None:
    token = await store_job(docs.system, "CREATED")
    nonce = await docs.new_nonce("jobs-manager", user="alice")
    statuses = ["QUEUED", "RUNNING", "ARCHIVING", "FINISHED"]

    for status in statuses:
        response = await docs.client.post(
            f"/actors/v2/jobs-manager/messages?x-nonce={nonce}&token={token}&uuid={JOB}"
            f"&session=casual-bass&status={status}",
            json=agave_record(status, nonce, token),
        )
        await completed(docs, response)

    job = await stored_job(docs.system)
    callbacks = job["history"][-len(statuses) :]
    assert [e["name"] for e in callbacks] == ["resource", "run", "resource", "finish"]
    for status, event in zip(statuses, callbacks, strict=True):
        record = agave_record(status, nonce, token)
        expected = {k: v for k, v in record.items() if k not in ("_links", "retries")}
        expected["notifications"] = [
            {
                "event": "*",
                "persistent": True,
                "url": f"https://gateway.example/actors/v2/jobs-manager/messages?uuid={JOB}"
                "&token=[REDACTED]&x-nonce=[REDACTED]&status=${JOB_STATUS}",
            }
        ]
        assert event["data"] == expected
    text = str(job)
    assert token not in text
    assert nonce not in text


async def test_a_failed_callback_keeps_the_record_and_its_reason(docs: Served) -> None:
    token = await store_job(docs.system, "RUNNING")
    nonce = await docs.new_nonce("jobs-manager", user="alice")
    record = agave_record("FAILED", nonce, token) | {"lastStatusMessage": "Out of tortillas"}

    response = await docs.client.post(
        f"/actors/v2/jobs-manager/messages?x-nonce={nonce}&token={token}&uuid={JOB}"
        "&status=${JOB_STATUS}",
        json=record,
    )

    await completed(docs, response)
    job = await stored_job(docs.system)
    failed = job["history"][-1]
    assert (job["state"], failed["name"]) == ("FAILED", "fail")
    assert failed["data"]["id"] == record["id"]
    assert failed["data"]["lastStatusMessage"] == "Out of tortillas"
    assert failed["data"]["lastUpdated"] == record["lastUpdated"]
