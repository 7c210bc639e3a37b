"""The agave-proxy through the runtime: launch requests as the documentation sends them."""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from pipelinejobs.actors.agave_proxy import AgaveProxy
from pipelinejobs.actors.base import ActorContext, Message
from pipelinejobs.actors.jobs_manager import JobsManager
from pipelinejobs.application.catalog import load_catalog
from pipelinejobs.application.ledger import history as stored_history
from pipelinejobs.application.ledger import record_job_event
from pipelinejobs.application.submission import submit
from pipelinejobs.compute.port import ComputeJob, ComputeRejected, ComputeService
from pipelinejobs.domain.archive import archive_hash_of_data, archive_hash_of_linkage, archive_path
from pipelinejobs.domain.executions import execution_id_for, utc_now
from pipelinejobs.domain.identifiers import typed_uuid
from pipelinejobs.errors import InvalidInput, NonceRejected
from pipelinejobs.gateway import GatewaySettings, create_app, issue_token
from pipelinejobs.host.bootstrap import System
from pipelinejobs.storage.local import LocalStorage
from settling import dead_letters
from stored_pipelines import add_pipeline as store_pipeline

DOMAIN = "sd2e.org"
APP = "tacobot9000-0.1.0u1"
CATALOG = Path(__file__).parents[2] / "fixtures" / "catalog.json"
JOB_DEFINITION: dict[str, Any] = {
    "appId": APP,
    "name": "TACObot job",
    "inputs": {"file1": "agave://data.tacc.cloud/examples/tacobot/test1.txt"},
    "parameters": {"salsa": True, "avocado": False, "cheese": True},
    "maxRunTime": "01:00:00",
}
LAUNCH: dict[str, Any] = {
    "parameters": {"sample_id": "sample.tacc.abcde"},
    "job_definition": JOB_DEFINITION,
}
INSTANCED = re.compile(r"[a-z]+-[a-z]+-\d{8}T\d{6}Z")


def uid(text: str, kind: str) -> str:
    return typed_uuid(text, kind, domain=DOMAIN)


def launch(**changes: Any) -> dict[str, Any]:
    message = copy.deepcopy(LAUNCH)
    message.update(changes)
    return message


class FakeCompute(ComputeService):
    """Records submissions; refuses them when told to; may run a hook as the job starts."""

    def __init__(self, apps: tuple[str, ...] = (APP,)) -> None:
        self.apps = set(apps)
        self.submitted: list[dict[str, Any]] = []
        self.refusal: str | None = None
        self.on_submit: Any = None

    async def app_exists(self, app_id: str) -> bool:
        return app_id in self.apps

    async def submit(self, job_definition: Mapping[str, Any]) -> ComputeJob:
        if self.refusal is not None:
            raise ComputeRejected(self.refusal)
        self.submitted.append(copy.deepcopy(dict(job_definition)))
        number = len(self.submitted)
        job = ComputeJob(
            id=f"job-{number}",
            status="PENDING",
            link=f"https://compute.example/jobs/v2/job-{number}",
        )
        if self.on_submit is not None:
            await self.on_submit(job_definition)
        return job

    async def status(self, job_id: str) -> ComputeJob:
        raise ComputeRejected(f"no job {job_id}")

    async def cancel(self, job_id: str) -> None:
        return None


class CountingProxy(AgaveProxy):
    """The real proxy, counting finished deliveries so a test can wait for a redelivery."""

    def __init__(self, storage: LocalStorage, compute: ComputeService | None) -> None:
        super().__init__(storage, compute)
        self.handled = 0
        self.progressed = asyncio.Event()

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        try:
            return await super().handle(message, ctx)
        finally:
            self.handled += 1
            self.progressed.set()


async def add_pipeline(
    system: System, app_id: str = APP, *, name: str = "TACObot", retired: bool = False
) -> str:
    components = [{"id": app_id, "inputs": [], "parameters": [], "outputs": [], "name": name}]
    return await store_pipeline(
        system,
        components,
        name=name,
        retired=retired,
        description="",
        processing_levels=["1"],
        collections_levels=[],
        pipeline_type="primary-etl",
        accepts=["*"],
        produces=["*"],
    )


async def proxy_system(
    make_system: Any,
    tmp_path: Path,
    *,
    bus: str = "embedded",
    compute: FakeCompute | None = None,
    proxy_class: type[AgaveProxy] = AgaveProxy,
    with_compute: bool = True,
) -> tuple[System, AgaveProxy, FakeCompute, LocalStorage]:
    compute = compute or FakeCompute()
    storage = LocalStorage(tmp_path / "storage")
    proxy = proxy_class(storage, compute if with_compute else None)
    system = await make_system(bus=bus, actors=[proxy])
    await load_catalog(system.store, json.loads(CATALOG.read_text()), domain=DOMAIN)
    return system, proxy, compute, storage


async def run(system: System, document: Any) -> dict[str, Any]:
    return await system.wait(await system.send("agave-proxy", document))


async def job_count(system: System) -> int:
    return await system.store.count_documents("jobs")


# -- the documentation's launch ------------------------------------------------------------
async def test_launch_linked_to_a_sample(make_system, bus_backend, tmp_path):
    system, _, compute, storage = await proxy_system(make_system, tmp_path, bus=bus_backend)
    pipeline = await add_pipeline(system)

    execution = await run(system, LAUNCH)

    assert execution["status"] == "COMPLETE", execution["error"]
    reply = execution["result"]
    job = await system.store.get_document("jobs", reply["uuid"])
    assert job is not None
    body = job.body
    sample = uid("sample.tacc.abcde", "sample")
    assert body["derived_from"] == sorted(
        uid(f"measurement.tacc.{n}", "measurement") for n in ("1234", "2345")
    )
    prefix = "/".join(
        [
            "/products/v2",
            pipeline.replace("-", ""),
            archive_hash_of_linkage([sample]),
            archive_hash_of_data(JOB_DEFINITION),
        ]
    )
    directory = body["archive_path"].removeprefix(prefix + "/")
    assert directory.startswith(body["session"] + "-")
    assert INSTANCED.fullmatch(directory)
    assert body["data"] == JOB_DEFINITION
    assert body["pipeline_uuid"] == pipeline
    assert body["generated_by"] == [pipeline]
    assert body["archive_system"] == "data-sd2e-community"
    assert body["archive_patterns"] == [{"level": "1", "patterns": []}]
    assert body["agent"] == "http://127.0.0.1:8000/actors/v2/agave-proxy"
    assert body["task"] == f"{body['agent']}/executions/{execution['id']}"
    assert body["owner"] == "user:local"
    assert body["state"] == "RUNNING"
    events = await stored_history(system.store, "jobs", body["uuid"])
    assert [event["name"] for event in events] == ["create", "run"]
    assert events[0]["data"] == JOB_DEFINITION
    assert events[1]["data"] == {
        "job_link": "https://compute.example/jobs/v2/job-1",
        "job_id": "job-1",
    }

    token = system.update_tokens.issue(job.uuid)
    assert reply["token"] == token
    assert reply["job_id"] == "job-1"
    assert reply["archive_path"] == body["archive_path"]
    [submitted] = compute.submitted
    assert submitted["archive"] is True
    assert submitted["archivePath"] == body["archive_path"]
    assert submitted["archiveSystem"] == "data-sd2e-community"
    [notification] = submitted["notifications"]
    assert notification["event"] == "*"
    assert notification["persistent"] is True
    url = notification["url"]
    assert url == reply["callback"]
    assert url.startswith("http://127.0.0.1:8000/actors/v2/jobs-manager/messages?")
    assert f"uuid={job.uuid}" in url
    assert f"token={token}" in url
    assert f"session={body['session']}" in url
    assert url.endswith("&status=${JOB_STATUS}")
    nonce_id = re.search(r"x-nonce=([^&]+)", url).group(1)  # type: ignore[union-attr]
    nonce = await system.store.get_nonce(nonce_id)
    assert nonce is not None
    assert (nonce["actor"], nonce["level"], nonce["max_uses"]) == ("jobs-manager", 2, -1)
    assert nonce["owner"] == "local"  # the user name, as the gateway's nonce routes compare it
    assert job.uuid in nonce["description"]
    await system.store.redeem_nonce(nonce_id, actor="jobs-manager", level=2, now=utc_now())
    with pytest.raises(NonceRejected):
        await system.store.redeem_nonce(nonce_id, actor="pipelines-manager", level=2, now=utc_now())

    assert await storage.list_files("data-sd2e-community", body["archive_path"]) == []
    assert storage.local_path("data-sd2e-community", body["archive_path"]).is_dir()
    logs = "\n".join(execution["logs"])
    assert f"Created job {job.uuid} with update token {token}" in logs
    assert f"Launched job {job.uuid} as compute job job-1" in logs


async def test_measurement_and_sample_link_measurements_under_the_sample_path(
    make_system, tmp_path
):
    system, _, _, _ = await proxy_system(make_system, tmp_path)
    pipeline = await add_pipeline(system)
    message = launch(
        parameters={"sample_id": "sample.tacc.abcde", "measurement_id": ["measurement.tacc.2345"]},
        instanced=False,
    )

    execution = await run(system, message)

    assert execution["status"] == "COMPLETE", execution["error"]
    job = await system.store.get_document("jobs", execution["result"]["uuid"])
    assert job is not None
    assert job.body["derived_from"] == [uid("measurement.tacc.2345", "measurement")]
    assert job.body["archive_path"] == archive_path(
        pipeline, [uid("sample.tacc.abcde", "sample")], JOB_DEFINITION, domain=DOMAIN
    )


async def test_experiment_links_its_samples_and_names_the_path(make_system, tmp_path):
    system, _, _, _ = await proxy_system(make_system, tmp_path)
    pipeline = await add_pipeline(system)

    execution = await run(
        system, launch(parameters={"experiment_id": "experiment.tacc.10001"}, instanced=False)
    )

    assert execution["status"] == "COMPLETE", execution["error"]
    job = await system.store.get_document("jobs", execution["result"]["uuid"])
    assert job is not None
    assert job.body["derived_from"] == sorted(
        [uid("sample.tacc.abcde", "sample"), uid("sample.tacc.fghij", "sample")]
    )
    assert job.body["archive_path"] == archive_path(
        pipeline, [uid("experiment.tacc.10001", "experiment")], JOB_DEFINITION, domain=DOMAIN
    )


async def test_not_instanced_has_no_instanced_directory(make_system, tmp_path):
    system, _, compute, _ = await proxy_system(make_system, tmp_path)
    pipeline = await add_pipeline(system)

    execution = await run(system, launch(instanced=False))

    assert execution["status"] == "COMPLETE", execution["error"]
    expected = archive_path(
        pipeline, [uid("sample.tacc.abcde", "sample")], JOB_DEFINITION, domain=DOMAIN
    )
    assert execution["result"]["archive_path"] == expected
    assert compute.submitted[0]["archivePath"] == expected


async def test_archive_uri_chooses_path_and_storage_system(make_system, tmp_path):
    system, _, compute, storage = await proxy_system(make_system, tmp_path)
    await add_pipeline(system)

    execution = await run(
        system, launch(archive_path="agave://data-projects/products/custom/tacobot/")
    )

    assert execution["status"] == "COMPLETE", execution["error"]
    assert execution["result"]["archive_system"] == "data-projects"
    assert execution["result"]["archive_path"] == "/products/custom/tacobot"
    assert compute.submitted[0]["archiveSystem"] == "data-projects"
    assert compute.submitted[0]["archivePath"] == "/products/custom/tacobot"
    assert storage.local_path("data-projects", "/products/custom/tacobot").is_dir()


async def test_message_data_processing_level_and_patterns_are_recorded(make_system, tmp_path):
    system, _, _, _ = await proxy_system(make_system, tmp_path)
    await add_pipeline(system)
    message = launch(
        data={"alpha": 0.5, "name": "renamed"},
        processing_level="2",
        index_patterns=[r"\.csv$"],
    )

    execution = await run(system, message)

    assert execution["status"] == "COMPLETE", execution["error"]
    job = await system.store.get_document("jobs", execution["result"]["uuid"])
    assert job is not None
    assert job.body["data"] == {**JOB_DEFINITION, "alpha": 0.5, "name": "renamed"}
    assert job.body["archive_patterns"] == [{"level": "2", "patterns": [r"\.csv$"]}]


async def test_user_notifications_are_kept_beside_the_callback(make_system, tmp_path):
    system, _, compute, _ = await proxy_system(make_system, tmp_path)
    await add_pipeline(system)
    mine = {"event": "FINISHED", "url": "mailto:me@example.org", "persistent": False}

    execution = await run(
        system, launch(job_definition={**JOB_DEFINITION, "notifications": [mine]})
    )

    assert execution["status"] == "COMPLETE", execution["error"]
    notifications = compute.submitted[0]["notifications"]
    assert notifications[0] == mine
    assert notifications[1]["url"] == execution["result"]["callback"]


@pytest.mark.parametrize("sender", ["user:alice", "nonce:alice"])
async def test_callback_nonce_is_owned_by_the_launching_user(
    make_system: Any, tmp_path: Path, sender: str
) -> None:
    system, _, _, _ = await proxy_system(make_system, tmp_path)
    await add_pipeline(system)

    execution = await system.wait(await system.send("agave-proxy", LAUNCH, sender=sender))

    assert execution["status"] == "COMPLETE", execution["error"]
    [nonce] = await system.store.list_nonces("jobs-manager")
    assert nonce["owner"] == "alice"
    job = await system.store.get_document("jobs", execution["result"]["uuid"])
    assert job is not None
    assert job.body["owner"] == sender


async def test_the_launching_user_lists_and_deletes_the_callback_nonce_over_http(
    make_system: Any, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "storage")
    system = await make_system(
        actors=[AgaveProxy(storage, FakeCompute()), JobsManager(storage=storage)]
    )
    await load_catalog(system.store, json.loads(CATALOG.read_text()), domain=DOMAIN)
    await add_pipeline(system)
    app = create_app(system, GatewaySettings())

    def bearer(user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(system.secrets.jwt_secret, user)}"}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        posted = await client.post(
            "/actors/v2/agave-proxy/messages", json=LAUNCH, headers=bearer("alice")
        )
        assert posted.status_code == 200, posted.text
        launched = await system.wait(posted.json()["result"]["executionId"])
        assert launched["status"] == "COMPLETE", launched["error"]
        nonce_id = re.search(r"x-nonce=([^&]+)", launched["result"]["callback"]).group(1)  # type: ignore[union-attr]

        listed = await client.get("/actors/v2/jobs-manager/nonces", headers=bearer("alice"))
        others = await client.get("/actors/v2/jobs-manager/nonces", headers=bearer("bob"))
        deleted = await client.delete(
            f"/actors/v2/jobs-manager/nonces/{nonce_id}", headers=bearer("alice")
        )

    assert listed.status_code == 200, listed.text
    assert [nonce["id"] for nonce in listed.json()["result"]] == [nonce_id]
    assert others.json()["result"] == []
    assert deleted.status_code == 200, deleted.text
    assert await system.store.get_nonce(nonce_id) is None


# -- refusals --------------------------------------------------------------------------------
async def test_unknown_catalog_ids_are_named_and_nothing_is_created(make_system, tmp_path):
    system, _, compute, _ = await proxy_system(make_system, tmp_path)
    await add_pipeline(system)
    message = launch(
        parameters={
            "sample_id": ["sample.tacc.abcde", "sample.tacc.nosuch"],
            "measurement_id": "measurement.tacc.missing",
        }
    )

    execution = await run(system, message)

    assert execution["status"] == "ERROR"
    assert "sample.tacc.nosuch" in execution["error"]
    assert "measurement.tacc.missing" in execution["error"]
    assert await job_count(system) == 0
    assert compute.submitted == []
    assert await system.store.list_nonces("jobs-manager") == []


async def test_unknown_app_is_refused(make_system, tmp_path):
    system, _, compute, _ = await proxy_system(make_system, tmp_path)
    await add_pipeline(system, "ghost-1.0")

    execution = await run(system, launch(job_definition={**JOB_DEFINITION, "appId": "ghost-1.0"}))

    assert execution["status"] == "ERROR"
    assert "'ghost-1.0' is not an app of the compute service" in execution["error"]
    assert await job_count(system) == 0
    assert compute.submitted == []


async def test_app_without_an_active_pipeline_is_refused(make_system, tmp_path):
    system, _, compute, _ = await proxy_system(make_system, tmp_path)
    await add_pipeline(system, retired=True)

    execution = await run(system, LAUNCH)

    assert execution["status"] == "ERROR"
    assert f"no ACTIVE pipeline has a component with id '{APP}'" in execution["error"]
    assert "register the app as a pipeline component" in execution["error"]
    assert await job_count(system) == 0
    assert compute.submitted == []


async def test_index_patterns_the_indexer_would_refuse_are_refused_before_anything_is_written(
    make_system: Any, tmp_path: Path
) -> None:
    system, proxy, compute, storage = await proxy_system(make_system, tmp_path)
    await add_pipeline(system)
    message = launch(index_patterns=[r"\.csv$", "(?<=x)sample("])
    problem = "index_patterns[1] '(?<=x)sample(' is not an accepted regular expression"

    execution = await run(system, message)

    assert execution["status"] == "ERROR"
    assert problem in execution["error"]
    assert "RE2 syntax" in execution["error"]
    assert await job_count(system) == 0
    assert compute.submitted == []
    assert await system.store.list_nonces("jobs-manager") == []
    assert not storage.system_root("data-sd2e-community").exists()
    with pytest.raises(InvalidInput, match=re.escape(problem)):
        proxy.check(Message(document=message, context={}, message_id="m-1"))


async def test_archive_path_through_a_file_is_refused_and_no_job_is_left(
    make_system: Any, tmp_path: Path
) -> None:
    system, _, compute, storage = await proxy_system(make_system, tmp_path)
    await add_pipeline(system)
    await storage.write_bytes("data-projects", "/products/custom", b"a file")

    execution = await run(
        system, launch(archive_path="agave://data-projects/products/custom/tacobot")
    )

    assert execution["status"] == "ERROR"
    assert "runs through a file" in execution["error"]
    assert await job_count(system) == 0
    assert compute.submitted == []
    assert await system.store.list_nonces("jobs-manager") == []


async def test_app_in_two_active_pipelines_is_ambiguous(make_system, tmp_path):
    system, _, _, _ = await proxy_system(make_system, tmp_path)
    first = await add_pipeline(system, name="one")
    second = await add_pipeline(system, name="two")

    execution = await run(system, LAUNCH)

    assert execution["status"] == "ERROR"
    assert first in execution["error"]
    assert second in execution["error"]


async def test_without_a_compute_service_launches_are_refused(make_system, tmp_path):
    system, _, _, _ = await proxy_system(make_system, tmp_path, with_compute=False)
    await add_pipeline(system)

    execution = await run(system, LAUNCH)

    assert execution["status"] == "ERROR"
    assert "no compute service configured" in execution["error"]


async def test_malformed_launch_is_refused_by_schema(make_system, tmp_path):
    system, _, _, _ = await proxy_system(make_system, tmp_path)

    execution = await run(system, {"job_definition": JOB_DEFINITION})

    assert execution["status"] == "ERROR"
    assert "parameters" in execution["error"]
    assert len(await dead_letters(system.bus, "agave-proxy")) == 1


async def test_refused_submission_fails_the_job_with_the_reason(make_system, tmp_path):
    compute = FakeCompute()
    compute.refusal = "queue 'normal' does not exist on hpc-tacc-stampede2"
    system, _, _, _ = await proxy_system(make_system, tmp_path, compute=compute)
    await add_pipeline(system)

    execution = await run(system, LAUNCH)

    assert execution["status"] == "ERROR"
    assert "queue 'normal' does not exist" in execution["error"]
    [job] = await system.store.find_documents("jobs")
    assert job.body["state"] == "FAILED"
    events = await stored_history(system.store, "jobs", job.uuid)
    assert [event["name"] for event in events] == ["create", "fail"]
    assert events[1]["data"] == {"error": "queue 'normal' does not exist on hpc-tacc-stampede2"}


# -- idempotence and races -------------------------------------------------------------------
async def redeliver(system: System, proxy: CountingProxy, document: Any, times: int) -> None:
    expected = proxy.handled + times
    for _ in range(times):
        await submit(
            system.store,
            system.bus,
            "agave-proxy",
            body=json.dumps(document).encode(),
            message_id="launch-1",
            sender="user:local",
        )
    async with asyncio.timeout(30):
        while proxy.handled < expected:
            await proxy.progressed.wait()
            proxy.progressed.clear()


async def test_redelivered_launch_creates_one_job_and_submits_once(
    make_system, bus_backend, tmp_path
):
    system, proxy, compute, _ = await proxy_system(
        make_system, tmp_path, bus=bus_backend, proxy_class=CountingProxy
    )
    await add_pipeline(system)

    await redeliver(system, proxy, LAUNCH, times=2)  # type: ignore[arg-type]

    execution = await system.wait(execution_id_for("launch-1"))
    assert execution["status"] == "COMPLETE", execution["error"]
    assert len(compute.submitted) == 1
    [job] = await system.store.find_documents("jobs")
    assert [e["name"] for e in await stored_history(system.store, "jobs", job.uuid)] == [
        "create",
        "run",
    ]
    assert execution["result"]["job_id"] == "job-1"
    assert execution["result"]["callback"] == compute.submitted[0]["notifications"][0]["url"]
    assert len(await system.store.list_nonces("jobs-manager")) == 1


async def test_redelivered_failed_launch_is_not_submitted_again(make_system, tmp_path):
    compute = FakeCompute()
    compute.refusal = "app is disabled"
    system, proxy, _, _ = await proxy_system(
        make_system, tmp_path, compute=compute, proxy_class=CountingProxy
    )
    await add_pipeline(system)

    await redeliver(system, proxy, LAUNCH, times=1)  # type: ignore[arg-type]
    compute.refusal = None
    await redeliver(system, proxy, LAUNCH, times=2)  # type: ignore[arg-type]

    assert compute.submitted == []
    [job] = await system.store.find_documents("jobs")
    assert [e["name"] for e in await stored_history(system.store, "jobs", job.uuid)] == [
        "create",
        "fail",
    ]
    execution = await system.wait(execution_id_for("launch-1"))
    assert "app is disabled" in execution["error"]


async def test_same_request_again_after_the_job_ran_is_refused(make_system, tmp_path):
    system, _, compute, _ = await proxy_system(make_system, tmp_path)
    await add_pipeline(system)
    first = await run(system, LAUNCH)

    again = await run(system, LAUNCH)

    assert first["status"] == "COMPLETE"
    assert again["status"] == "ERROR"
    assert f"job {first['result']['uuid']} already exists" in again["error"]
    assert "is RUNNING" in again["error"]
    assert len(compute.submitted) == 1


async def test_callbacks_that_arrive_before_run_is_recorded_win(make_system, tmp_path):
    compute = FakeCompute()
    system, _, _, _ = await proxy_system(make_system, tmp_path, compute=compute)
    await add_pipeline(system)

    async def finish_at_once(definition: Mapping[str, Any]) -> None:
        uuid = re.search(r"uuid=([0-9a-f-]+)", definition["notifications"][0]["url"]).group(1)  # type: ignore[union-attr]
        for event in ("run", "finish"):
            await record_job_event(
                system.store,
                uuid,
                event,
                {"status": event},
                message_id=f"cb-{event}",
                domain=DOMAIN,
            )

    compute.on_submit = finish_at_once

    execution = await run(system, LAUNCH)

    assert execution["status"] == "COMPLETE", execution["error"]
    [job] = await system.store.find_documents("jobs")
    assert job.body["state"] == "FINISHED"
    assert [e["name"] for e in await stored_history(system.store, "jobs", job.uuid)] == [
        "create",
        "run",
        "finish",
    ]
    assert execution["result"]["job_id"] == "job-1"
    assert any("is already FINISHED" in line for line in execution["logs"])
