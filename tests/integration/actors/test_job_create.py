"""The jobs-manager's ``create`` action (``handle_create``) through the runtime.

Driven through a minimal actor that does what the jobs-manager does for ``action == "create"``,
so these tests do not depend on the rest of the jobs-manager.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pipelinejobs.actors.base import ActorContext, Message
from pipelinejobs.actors.jobs_manager import JobsManager
from pipelinejobs.application.catalog import load_catalog
from pipelinejobs.application.ledger import history as stored_history
from pipelinejobs.application.managed_jobs import handle_create
from pipelinejobs.domain.archive import archive_path
from pipelinejobs.domain.identifiers import job_uuid, pipeline_uuid, typed_uuid
from pipelinejobs.errors import InvalidInput
from pipelinejobs.host.bootstrap import System
from pipelinejobs.storage.local import LocalStorage
from pipelinejobs.storage.port import Storage
from stored_pipelines import add_pipeline as store_pipeline

DOMAIN = "sd2e.org"
CATALOG = Path(__file__).parents[2] / "fixtures" / "catalog.json"
MEASUREMENTS = ["measurement.tacc.1234", "measurement.tacc.2345"]


class JobCreator:
    """Stands in for the jobs-manager: its create action alone."""

    alias: ClassVar[str] = "jobs-manager"

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        return await handle_create(message, ctx, self.storage)


def uid(text: str, kind: str) -> str:
    return typed_uuid(text, kind, domain=DOMAIN)


async def add_pipeline(system: System, *, retired: bool = False) -> str:
    components = [{"id": "tacobot9000-0.1.0u1", "inputs": [], "parameters": [], "outputs": []}]
    return await store_pipeline(system, components, retired=retired)


async def creator_system(make_system: Any, tmp_path: Path) -> tuple[System, LocalStorage]:
    storage = LocalStorage(tmp_path / "storage")
    system = await make_system(actors=[JobCreator(storage)])
    await load_catalog(system.store, json.loads(CATALOG.read_text()), domain=DOMAIN)
    return system, storage


async def create(system: System, document: Any, sender: str = "user:local") -> dict[str, Any]:
    return await system.wait(await system.send("jobs-manager", document, sender=sender))


async def test_create_returns_the_job_and_its_token(make_system, tmp_path):
    system, storage = await creator_system(make_system, tmp_path)
    pipeline = await add_pipeline(system)
    data = {"alpha": 0.5}
    request = {
        "action": "create",
        "pipeline_uuid": pipeline,
        "measurement_id": MEASUREMENTS,
        "data": data,
        "archive_patterns": [{"level": "2", "patterns": [r"\.bam$"]}],
        "agent": "https://example.org/actors/v2/my-reactor",
        "task": "https://example.org/t/1",
    }

    execution = await create(system, request)

    assert execution["status"] == "COMPLETE", execution["error"]
    reply = execution["result"]
    linked = sorted(uid(m, "measurement") for m in MEASUREMENTS)
    uuid = job_uuid(pipeline, linked, data, domain=DOMAIN)
    expected_path = archive_path(pipeline, linked, data, domain=DOMAIN)
    assert reply == {
        "uuid": uuid,
        "token": system.update_tokens.issue(uuid),
        "archive_path": expected_path,
        "archive_system": "data-sd2e-community",
        "session": reply["session"],
        "state": "CREATED",
        "created": True,
    }
    assert re.fullmatch(r"[a-z]+-[a-z]+", reply["session"])
    job = await system.store.get_document("jobs", uuid)
    assert job is not None
    assert job.body["derived_from"] == linked
    assert job.body["archive_patterns"] == [{"level": "2", "patterns": [r"\.bam$"]}]
    assert job.body["agent"] == "https://example.org/actors/v2/my-reactor"
    assert job.body["owner"] == "user:local"
    events = await stored_history(system.store, "jobs", job.uuid)
    assert [(e["name"], e["data"]) for e in events] == [("create", data)]
    assert storage.local_path("data-sd2e-community", expected_path).is_dir()
    assert any(
        line.endswith(f"Created job {uuid} with update token {reply['token']}")
        for line in execution["logs"]
    )


async def test_same_request_twice_is_the_same_job_with_one_create_event(make_system, tmp_path):
    system, _ = await creator_system(make_system, tmp_path)
    pipeline = await add_pipeline(system)
    request = {
        "action": "create",
        "pipeline_uuid": pipeline,
        "sample_id": "sample.tacc.abcde",
        "data": {"k": 1},
        "instanced": True,
    }

    first = await create(system, request)
    second = await create(system, {**request, "sample_id": [uid("sample.tacc.abcde", "sample")]})

    assert first["status"] == second["status"] == "COMPLETE"
    assert second["result"] == {**first["result"], "created": False}
    job = await system.store.get_document("jobs", first["result"]["uuid"])
    assert job is not None
    assert [e["name"] for e in await stored_history(system.store, "jobs", job.uuid)] == ["create"]
    assert any(line.endswith(f"Job {job.uuid} already exists") for line in second["logs"])
    assert await system.store.count_documents("jobs") == 1


async def test_another_sender_learns_the_job_exists_but_not_its_token(make_system, tmp_path):
    system, _ = await creator_system(make_system, tmp_path)
    pipeline = await add_pipeline(system)
    request = {"action": "create", "pipeline_uuid": pipeline, "sample_id": "sample.tacc.abcde"}
    first = await create(system, request)

    other = await create(system, request, sender="user:mallory")

    assert other["status"] == "COMPLETE"
    assert other["result"]["uuid"] == first["result"]["uuid"]
    assert other["result"]["token"] is None
    assert first["result"]["token"] not in "\n".join(other["logs"])


async def test_instanced_archive_path_ends_with_the_session_directory(make_system, tmp_path):
    system, _ = await creator_system(make_system, tmp_path)
    pipeline = await add_pipeline(system)
    request = {
        "action": "create",
        "pipeline_uuid": pipeline,
        "sample_id": "sample.tacc.abcde",
        "instanced": True,
        "session": "casual-bass",
    }

    execution = await create(system, request)

    assert execution["status"] == "COMPLETE", execution["error"]
    prefix = archive_path(pipeline, [uid("sample.tacc.abcde", "sample")], {}, domain=DOMAIN)
    assert re.fullmatch(
        re.escape(prefix) + r"/casual-bass-\d{8}T\d{6}Z", execution["result"]["archive_path"]
    )


async def test_given_archive_path_and_system_are_used(make_system, tmp_path):
    system, storage = await creator_system(make_system, tmp_path)
    pipeline = await add_pipeline(system)
    request = {
        "action": "create",
        "pipeline_uuid": pipeline,
        "sample_id": "sample.tacc.abcde",
        "archive_path": "/products/v2/custom/run-1/",
        "archive_system": "data-projects",
    }

    execution = await create(system, request)

    assert execution["status"] == "COMPLETE", execution["error"]
    assert execution["result"]["archive_path"] == "/products/v2/custom/run-1"
    assert execution["result"]["archive_system"] == "data-projects"
    assert storage.local_path("data-projects", "/products/v2/custom/run-1").is_dir()


async def test_archive_path_escaping_its_storage_system_is_refused(make_system, tmp_path):
    system, _ = await creator_system(make_system, tmp_path)
    pipeline = await add_pipeline(system)
    request = {
        "action": "create",
        "pipeline_uuid": pipeline,
        "sample_id": "sample.tacc.abcde",
        "archive_path": "/products/../../etc",
    }

    execution = await create(system, request)

    assert execution["status"] == "ERROR"
    assert "'..' segment" in execution["error"]
    assert await system.store.count_documents("jobs") == 0


async def test_retired_pipeline_accepts_no_new_jobs(make_system, tmp_path):
    system, _ = await creator_system(make_system, tmp_path)
    pipeline = await add_pipeline(system, retired=True)

    execution = await create(
        system, {"action": "create", "pipeline_uuid": pipeline, "sample_id": "sample.tacc.abcde"}
    )

    assert execution["status"] == "ERROR"
    assert f"pipeline {pipeline} is RETIRED and accepts no new jobs" in execution["error"]
    assert await system.store.count_documents("jobs") == 0


async def test_unknown_pipeline_is_refused(make_system, tmp_path):
    system, _ = await creator_system(make_system, tmp_path)
    unknown = pipeline_uuid([{"id": "never-registered"}], domain=DOMAIN)

    execution = await create(
        system, {"action": "create", "pipeline_uuid": unknown, "sample_id": "sample.tacc.abcde"}
    )

    assert execution["status"] == "ERROR"
    assert f"no pipeline with uuid {unknown}" in execution["error"]


async def test_unlinked_or_malformed_requests_are_refused(make_system, tmp_path):
    system, _ = await creator_system(make_system, tmp_path)
    pipeline = await add_pipeline(system)

    unlinked = await create(system, {"action": "create", "pipeline_uuid": pipeline})
    bad_session = await create(
        system,
        {
            "action": "create",
            "pipeline_uuid": pipeline,
            "sample_id": "sample.tacc.abcde",
            "session": "../../etc",
        },
    )
    malformed = await create(system, {"action": "create", "sample_id": "sample.tacc.abcde"})

    assert unlinked["status"] == "ERROR"
    assert "a job must be linked to the catalog" in unlinked["error"]
    assert bad_session["status"] == "ERROR"
    assert "session '../../etc' is not accepted" in bad_session["error"]
    assert malformed["status"] == "ERROR"
    assert "pipeline_uuid" in malformed["error"]
    assert await system.store.count_documents("jobs") == 0


async def test_archive_path_through_a_file_is_refused_and_no_job_is_stored(
    make_system: Any, tmp_path: Path
) -> None:
    system, storage = await creator_system(make_system, tmp_path)
    pipeline = await add_pipeline(system)
    await storage.write_bytes("data-sd2e-community", "/products/v2/custom/notes.txt", b"x")
    request = {
        "action": "create",
        "pipeline_uuid": pipeline,
        "sample_id": "sample.tacc.abcde",
        "archive_path": "/products/v2/custom/notes.txt/run-1",
    }

    execution = await create(system, request)

    assert execution["status"] == "ERROR"
    assert "runs through a file" in execution["error"]
    assert await system.store.count_documents("jobs") == 0


async def test_archive_path_linked_outside_its_storage_system_is_refused_and_no_job_is_stored(
    make_system: Any, tmp_path: Path
) -> None:
    system, storage = await creator_system(make_system, tmp_path)
    pipeline = await add_pipeline(system)
    outside = tmp_path / "outside"
    outside.mkdir()
    storage.system_root("data-sd2e-community").joinpath("products").mkdir(parents=True)
    storage.system_root("data-sd2e-community").joinpath("products", "v2").symlink_to(outside)
    request = {
        "action": "create",
        "pipeline_uuid": pipeline,
        "sample_id": "sample.tacc.abcde",
        "archive_path": "/products/v2/custom/run-1",
    }

    execution = await create(system, request)

    assert execution["status"] == "ERROR"
    assert "resolves outside the storage system" in execution["error"]
    assert await system.store.count_documents("jobs") == 0
    assert list(outside.iterdir()) == []


async def test_the_refused_request_corrected_creates_the_job_with_its_token(
    make_system: Any, tmp_path: Path
) -> None:
    """After a refusal nothing is left that would make the corrected request 'already exist'."""
    system, storage = await creator_system(make_system, tmp_path)
    pipeline = await add_pipeline(system)
    await storage.write_bytes("data-sd2e-community", "/products/v2/custom/notes.txt", b"x")
    request = {
        "action": "create",
        "pipeline_uuid": pipeline,
        "sample_id": "sample.tacc.abcde",
        "archive_path": "/products/v2/custom/notes.txt/run-1",
    }
    refused = await create(system, request)

    corrected = await create(system, {**request, "archive_path": "/products/v2/custom/run-1"})

    assert refused["status"] == "ERROR"
    assert corrected["status"] == "COMPLETE", corrected["error"]
    assert corrected["result"]["created"] is True
    assert corrected["result"]["token"] == system.update_tokens.issue(corrected["result"]["uuid"])


@pytest.mark.parametrize(
    ("patterns", "problem"),
    [
        (
            [{"level": "2", "patterns": [r"\.csv$", "(?<=x)sample("]}],
            "archive_patterns[0].patterns[1] '(?<=x)sample(' is not an accepted regular expression",
        ),
        (
            [{"level": "1", "patterns": []}, {"level": "2", "patterns": ["x" * 1025]}],
            "archive_patterns[1].patterns[0] has 1025 characters; at most 1024 are accepted",
        ),
        (
            [{"level": "1", "patterns": [f"f{n}" for n in range(101)]}],
            "archive_patterns[0].patterns has 101 entries; at most 100 are accepted",
        ),
    ],
)
async def test_archive_patterns_the_indexer_would_refuse_are_refused_at_create(
    make_system: Any, tmp_path: Path, patterns: list[dict[str, Any]], problem: str
) -> None:
    system, storage = await creator_system(make_system, tmp_path)
    pipeline = await add_pipeline(system)
    request = {
        "action": "create",
        "pipeline_uuid": pipeline,
        "sample_id": "sample.tacc.abcde",
        "archive_patterns": patterns,
    }

    execution = await create(system, request)

    assert execution["status"] == "ERROR"
    assert problem in execution["error"]
    assert await system.store.count_documents("jobs") == 0
    assert not storage.system_root("data-sd2e-community").exists()
    with pytest.raises(InvalidInput, match=re.escape(problem)):
        JobsManager(storage).check(Message(document=request, context={}, message_id="m-1"))
