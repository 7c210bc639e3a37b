"""A job's archive path belongs to it (issue 13, item 2).

The attack: any Bearer holder sent ``{"action": "create", ...}`` with another job's
``archive_path`` and ``archive_system``, then ``index``: the other job's file records changed
(processing level, ``generated_by``). Creating such a job is refused (the catalogue shows it);
here, jobs whose paths overlap anyway (stored before the rule, or placed by an admin) cannot
relink each other's files without an admin token, and an admin token lifts both rules.
"""

from __future__ import annotations

from typing import Any

import pytest
from arena import ALICE_ARCHIVE, INDEXER, JOBS, OUTPUTS, SAMPLE, Arena, victim_arena
from gateway_harness import ServeGateway

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def arena(make_system: Any, serve_gateway: ServeGateway) -> Arena:
    system = await make_system()
    served = await serve_gateway(system)
    return await victim_arena(system, served)


async def finished_job_at(arena: Arena, path: str, admin_token: str) -> tuple[str, str]:
    """Mallory's job at ``path`` (placed with an admin token), run and finished; its uuid
    and update token."""
    request = {
        "action": "create",
        "pipeline_uuid": arena.pipeline,
        "sample_id": SAMPLE,
        "data": {"mallory": path},
        "archive_path": path,
        "admin_token": admin_token,
    }
    created = await arena.outcome(await arena.send(JOBS, request))
    assert created["status"] == "COMPLETE", created["error"]
    job, token = created["result"]["uuid"], created["result"]["token"]
    for event in ("run", "finish"):
        done = await arena.outcome(
            await arena.send(JOBS, {"uuid": job, "name": event, "token": token})
        )
        assert done["status"] == "COMPLETE", done["error"]
    return job, token


async def alices_files(arena: Arena) -> list[dict[str, Any]]:
    return sorted(
        await arena.system.store.find_files(generated_by=arena.job), key=lambda f: f["name"]
    )


async def test_an_admin_token_places_a_job_over_another_jobs_archive_path(arena: Arena) -> None:
    job, _ = await finished_job_at(arena, ALICE_ARCHIVE, arena.admin_token())
    stored = await arena.system.store.get_document("jobs", job)
    assert stored is not None
    assert stored.body["archive_path"] == ALICE_ARCHIVE


async def test_the_indexer_never_relinks_another_jobs_files_without_an_admin_token(
    arena: Arena,
) -> None:
    before = await alices_files(arena)
    job, token = await finished_job_at(arena, "/products/v2/alice-lab", arena.admin_token())

    index = await arena.outcome(
        await arena.send(INDEXER, {"uuid": job, "name": "index", "token": token, "level": "2"})
    )

    assert index["status"] == "COMPLETE", index["error"]
    assert await alices_files(arena) == before
    assert all(file["generated_by"] == [arena.job] for file in before)
    assert index["result"]["indexed"] == 0
    assert sorted(index["result"]["generated_by_other_jobs"]) == [
        f"{ALICE_ARCHIVE}/{name}" for name in OUTPUTS
    ]
    logs = await arena.client.get(
        f"/actors/v2/{INDEXER}/executions/{index['id']}/logs", headers=arena.bearer()
    )
    assert "another job generated them" in logs.json()["result"]["logs"]


async def test_an_index_with_an_admin_token_relinks_them(arena: Arena) -> None:
    job, _ = await finished_job_at(arena, "/products/v2/alice-lab", arena.admin_token())

    index = await arena.outcome(
        await arena.send(
            INDEXER, {"uuid": job, "name": "index", "token": arena.admin_token(), "level": "2"}
        )
    )

    assert index["status"] == "COMPLETE", index["error"]
    relinked = await alices_files(arena)
    assert [file["level"] for file in relinked] == ["2", "2"]
    assert all(sorted(file["generated_by"]) == sorted([arena.job, job]) for file in relinked)
