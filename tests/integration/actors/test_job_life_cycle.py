"""A job's whole documented life over HTTP: launched by the agave-proxy, then the compute
service's callbacks (RUNNING, FINISHED) to the jobs-manager, read back as the record the
documentation shows under "Job Life Cycle".

The compute service is a stand-in that accepts the submission; the test then plays it, posting
the Agave job records to the callback URL the proxy gave it (``${JOB_STATUS}`` filled in), with
the nonce in that URL as the only credential, as a real compute service would. Automatic
indexing is off, so the job stops at ``finish`` as the documented record does (what follows,
``index`` and ``indexed``, is tested with the jobs-manager and the jobs-indexer).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from pipelinejobs.actors.agave_proxy import AgaveProxy
from pipelinejobs.actors.jobs_manager import JobsManager
from pipelinejobs.application.catalog import load_catalog
from pipelinejobs.application.ledger import history as stored_history
from pipelinejobs.compute.port import ComputeJob, ComputeRejected, ComputeService
from pipelinejobs.domain.archive import archive_path
from pipelinejobs.domain.identifiers import UUIDType, typed_uuid, uuid_type
from pipelinejobs.gateway import GatewaySettings, create_app, issue_token
from pipelinejobs.host.bootstrap import System
from pipelinejobs.storage.local import LocalStorage
from stored_pipelines import add_pipeline as store_pipeline

DOMAIN = "sd2e.org"
APP = "tacobot9000-0.1.0u1"
CATALOG = Path(__file__).parents[2] / "fixtures" / "catalog.json"
JOB_DEFINITION: dict[str, Any] = {
    "appId": APP,
    "archivePath": "",
    "inputs": {"file1": "agave://data.tacc.cloud/examples/tacobot/test1.txt"},
    "maxRunTime": "01:00:00",
    "name": "TACObot job",
    "parameters": {"avocado": False, "cheese": True, "salsa": True},
}
DOCUMENTED_RECORD: dict[str, Any] = {
    "agent": "https://api.tacc.cloud/actors/v2/G46vjoAVzGkkz",
    "archive_path": "/products/v2/103f877a7ab857d182807b75af4eab6e/"
    "106bd127e2d257acb9be11ed06042e68/eligible-awk-20181127T173243Z",
    "archive_system": "data-sd2e-community",
    "data": JOB_DEFINITION,
    "derived_from": ["1022efa3-4480-538f-a581-f1810fb4e0c3"],
    "generated_by": ["106bd127-e2d2-57ac-b9be-11ed06042e68"],
    "history": [
        {"data": {"appId": APP}, "date": "2018-12-08T00:08:32.000+0000", "name": "create"},
        {"data": {"status": "RUNNING"}, "date": "2018-12-08T00:10:12.000+0000", "name": "run"},
        {"data": {"status": "FINISHED"}, "date": "2018-12-08T00:53:45.000+0000", "name": "finish"},
    ],
    "last_event": "finish",
    "pipeline_uuid": "106bd127-e2d2-57ac-b9be-11ed06042e68",
    "session": "casual-bass",
    "state": "FINISHED",
    "task": "https://api.tacc.cloud/actors/v2/G46vjoAVzGkkz/executions/Myp6wvklV0zgQ",
    "updated": "2018-12-08T00:53:45.000+0000",
    "uuid": "10743f9e-f5ae-5b4c-859e-6774ef4ab08b",
}
"""The documentation's record, history data abridged (the shape is what is compared)."""
OUR_ADDITIONS = {"archive_patterns", "owner", "created"}
"""Top-level fields we store beyond the documented ones: the automatic indexing configuration,
who created the job (who may see its token again) and when."""
HISTORY_ENTRY = {"data", "date", "name", "uuid"}
"""The original's entry ``{date, data, name, uuid}``; the documentation's example omits uuid."""


class AcceptingCompute(ComputeService):
    """A compute service that accepts every submission of the app and keeps the definitions."""

    def __init__(self) -> None:
        self.submitted: list[dict[str, Any]] = []

    async def app_exists(self, app_id: str) -> bool:
        return app_id == APP

    async def submit(self, job_definition: Mapping[str, Any]) -> ComputeJob:
        self.submitted.append(copy.deepcopy(dict(job_definition)))
        return ComputeJob(
            id="7381691026605150696-242ac11b-0001-007",
            status="PENDING",
            link="https://compute.example/jobs/v2/7381691026605150696-242ac11b-0001-007",
        )

    async def status(self, job_id: str) -> ComputeJob:
        raise ComputeRejected(f"no job {job_id}")

    async def cancel(self, job_id: str) -> None:
        return None


def agave_job(definition: Mapping[str, Any], status: str) -> dict[str, Any]:
    """The Agave job record a compute service posts on a status change."""
    return {
        "id": "7381691026605150696-242ac11b-0001-007",
        "name": definition["name"],
        "owner": "tacobot",
        "appId": definition["appId"],
        "executionSystem": "hpc-tacc-stampede2",
        "batchQueue": "normal",
        "archive": True,
        "archivePath": definition["archivePath"],
        "archiveSystem": definition["archiveSystem"],
        "inputs": definition["inputs"],
        "parameters": definition["parameters"],
        "maxRunTime": definition["maxRunTime"],
        "status": status,
        "lastStatusMessage": f"Job {status.lower()}",
        "retries": 0,
        "localId": "12345",
        "_links": {"self": {"href": "https://api.tacc.cloud/jobs/v2/7381691026605150696"}},
    }


async def add_pipeline(system: System) -> str:
    components = [{"id": APP, "inputs": [], "parameters": [], "outputs": []}]
    return await store_pipeline(system, components, owner="user:alice")


def is_utc_timestamp(value: object) -> bool:
    if not isinstance(value, str):
        return False
    return datetime.fromisoformat(value).utcoffset() == UTC.utcoffset(None)


async def test_a_launched_job_called_back_to_finished_is_the_documented_record(
    make_system: Any, bus_backend: str, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "storage")
    compute = AcceptingCompute()
    system: System = await make_system(
        bus=bus_backend,
        actors=[AgaveProxy(storage, compute), JobsManager(storage=storage)],
        auto_index=False,
    )
    await load_catalog(system.store, json.loads(CATALOG.read_text()), domain=DOMAIN)
    pipeline = await add_pipeline(system)
    alice = {"Authorization": f"Bearer {issue_token(system.secrets.jwt_secret, 'alice')}"}
    launch = {"parameters": {"sample_id": "sample.tacc.abcde"}, "job_definition": JOB_DEFINITION}

    transport = httpx.ASGITransport(app=create_app(system, GatewaySettings()))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        posted = await client.post("/actors/v2/agave-proxy/messages", json=launch, headers=alice)
        assert posted.status_code == 200, posted.text
        launched = await system.wait(posted.json()["result"]["executionId"])
        assert launched["status"] == "COMPLETE", launched["error"]
        [definition] = compute.submitted
        callback = definition["notifications"][-1]["url"]
        for status in ("RUNNING", "FINISHED"):
            url = callback.replace("${JOB_STATUS}", status)
            answered = await client.post(url, json=agave_job(definition, status))
            assert answered.status_code == 200, answered.text
            execution = await system.wait(answered.json()["result"]["executionId"])
            assert execution["status"] == "COMPLETE", execution["error"]
        read = await client.get(f"/jobs/{launched['result']['uuid']}", headers=alice)

    assert parse_qs(urlsplit(callback).query)["status"] == ["${JOB_STATUS}"]
    job = await system.store.get_document("jobs", launched["result"]["uuid"])
    assert job is not None
    record = {**job.body, "history": await stored_history(system.store, "jobs", job.uuid)}
    assert read.status_code == 200, read.text
    assert read.json() == record

    assert set(record) == set(DOCUMENTED_RECORD) | OUR_ADDITIONS
    for field, documented in DOCUMENTED_RECORD.items():
        assert type(record[field]) is type(documented), field
    assert record["data"] == JOB_DEFINITION
    assert (record["state"], record["last_event"]) == ("FINISHED", "finish")
    assert uuid_type(record["uuid"]) is UUIDType.PIPELINEJOB
    assert record["pipeline_uuid"] == pipeline
    assert record["generated_by"] == [pipeline]
    assert record["derived_from"] == sorted(
        typed_uuid(f"measurement.tacc.{n}", UUIDType.MEASUREMENT, domain=DOMAIN)
        for n in ("1234", "2345")
    )
    assert record["archive_system"] == DOCUMENTED_RECORD["archive_system"]
    sample = typed_uuid("sample.tacc.abcde", UUIDType.SAMPLE, domain=DOMAIN)
    prefix = archive_path(pipeline, [sample], JOB_DEFINITION, domain=DOMAIN)
    assert re.fullmatch(
        re.escape(f"{prefix}/{record['session']}-") + r"\d{8}T\d{6}Z", record["archive_path"]
    )
    assert re.fullmatch(r"[a-z]+-[a-z]+", record["session"])
    assert record["agent"] == "http://127.0.0.1:8000/actors/v2/agave-proxy"
    assert record["task"] == f"{record['agent']}/executions/{launched['id']}"
    assert record["owner"] == "user:alice"

    history = record["history"]
    assert [entry["name"] for entry in history] == ["create", "run", "run", "finish"]
    for entry in history:
        assert set(entry) == HISTORY_ENTRY
        assert uuid_type(entry["uuid"]) is UUIDType.PIPELINEJOB_EVENT
        assert is_utc_timestamp(entry["date"])
    for documented in DOCUMENTED_RECORD["history"]:
        assert is_utc_timestamp(documented["date"])
    create, launch_run, callback_run, finish = history
    assert create["data"] == JOB_DEFINITION
    assert launch_run["data"] == {
        "job_link": "https://compute.example/jobs/v2/7381691026605150696-242ac11b-0001-007",
        "job_id": "7381691026605150696-242ac11b-0001-007",
    }
    private = {"_links", "retries", "localId"}
    running = agave_job(definition, "RUNNING")
    assert callback_run["data"] == {k: v for k, v in running.items() if k not in private}
    finished = agave_job(definition, "FINISHED")
    assert finish["data"] == {k: v for k, v in finished.items() if k not in private}
    assert record["updated"] == finish["date"]
    assert [entry["date"] for entry in history] == sorted(entry["date"] for entry in history)
