"""Our attack catalogue against the gateway and the four real actors (issue 13).

Each row is one attack by mallory (or an impostor) on alice's pipeline, job, files and nonce.
For every row the catalogue asserts the refusal (HTTP status or ERROR execution, with a reason
naming what was wrong), that nothing stored changed (documents, file records, alice's nonce;
no execution for a request refused at the door), and that no secret of alice's (tokens, nonce,
a current admin token) reached the process log or any answer mallory got.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from arena import (
    ALICE_ARCHIVE,
    ATTACKER,
    INDEXER,
    JOBS,
    PIPELINES,
    SAMPLE,
    VICTIM,
    Arena,
    assert_no_secret,
    log_lines,
    process_logs,
    victim_arena,
)
from gateway_harness import ServeGateway, assert_problem
from oidc_provider import AUDIENCE, ISSUER, Provider
from pipelinejobs.domain.derived_ids import sender_message_id
from pipelinejobs.domain.executions import execution_id_for

__all__ = ["process_logs"]

pytestmark = pytest.mark.timeout(120)

Attack = Callable[[Arena], Awaitable[None]]


@dataclass(frozen=True)
class Row:
    name: str
    attack: Attack
    message_id: str | None = None
    """The X-Message-Id the attack sends when the gateway must refuse it before recording an
    execution; the catalogue then checks no execution exists for it."""


CATALOGUE: list[Row] = []


def attack(message_id: str | None = None) -> Callable[[Attack], Attack]:
    def register(function: Attack) -> Attack:
        CATALOGUE.append(Row(function.__name__, function, message_id))
        return function

    return register


async def refused_later(arena: Arena, response: httpx.Response, *needles: str) -> None:
    """Accepted at the door, refused by the actor: the execution ends ERROR naming why."""
    execution = await arena.outcome(response)
    assert execution["status"] == "ERROR", execution
    for needle in needles:
        assert needle in (execution["error"] or ""), execution["error"]


def mid(name: str) -> dict[str, str]:
    return {"X-Message-Id": name}


# -- ids: collisions across senders, replay by another sender -------------------------------
@attack()
async def replay_of_a_message_by_another_sender(arena: Arena) -> None:
    """Mallory resends alice's job event with alice's X-Message-Id (but no token of hers)."""
    replay = await arena.send(
        JOBS, {"uuid": arena.job, "name": "fail", "token": "0" * 16}, headers=mid("finish-1")
    )
    assert replay.json()["result"]["executionId"] != execution_id_for(
        sender_message_id(f"user:{VICTIM}", "finish-1")
    )
    await refused_later(arena, replay, "token", "is not valid")


# -- tokens ---------------------------------------------------------------------------------
@attack()
async def update_token_in_another_case(arena: Arena) -> None:
    response = await arena.send(
        JOBS, {"uuid": arena.job, "name": "fail", "token": arena.job_token.upper()}
    )
    await refused_later(arena, response, "is not valid")


@attack()
async def admin_token_in_another_case(arena: Arena) -> None:
    response = await arena.send(
        JOBS, {"uuid": arena.job, "name": "reset", "token": arena.admin_token().upper()}
    )
    await refused_later(arena, response, "admin token")


@attack()
async def update_token_of_another_document(arena: Arena) -> None:
    another = arena.system.update_tokens.issue(arena.pipeline.replace("106", "107", 1))
    response = await arena.send(JOBS, {"uuid": arena.job, "name": "fail", "token": another})
    await refused_later(arena, response, "is not valid")


@attack(message_id="no-bearer")
async def missing_bearer_token(arena: Arena) -> None:
    response = await arena.request(
        "POST", f"/actors/v2/{JOBS}/messages", json={"uuid": arena.job}, headers=mid("no-bearer")
    )
    assert_problem(response, 401, "no credentials")


def _bearer(token: str, message_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **mid(message_id)}


@attack(message_id="forged")
async def forged_bearer_token(arena: Arena) -> None:
    forged = jwt.encode(
        {"iss": "pipelinejobs", "sub": VICTIM, "exp": time.time() + 600},
        os.urandom(32),
        algorithm="HS256",
    )
    response = await arena.request(
        "POST", f"/actors/v2/{JOBS}/messages", json={}, headers=_bearer(forged, "forged")
    )
    assert_problem(response, 401, "signature does not verify")


@attack(message_id="expired")
async def expired_bearer_token(arena: Arena) -> None:
    expired = jwt.encode(
        {"iss": "pipelinejobs", "sub": VICTIM, "iat": 1, "exp": time.time() - 3600},
        arena.system.secrets.jwt_secret,
        algorithm="HS256",
    )
    response = await arena.request(
        "POST", f"/actors/v2/{JOBS}/messages", json={}, headers=_bearer(expired, "expired")
    )
    assert_problem(response, 401, "expired")


@attack(message_id="alg-none")
async def alg_none_bearer_token(arena: Arena) -> None:
    unsigned = jwt.encode(
        {"iss": "pipelinejobs", "sub": VICTIM, "exp": time.time() + 600, "roles": ["admin"]},
        None,
        algorithm="none",
    )
    response = await arena.request(
        "POST", f"/actors/v2/{JOBS}/messages", json={}, headers=_bearer(unsigned, "alg-none")
    )
    assert_problem(response, 401, "'none'")


@attack(message_id="not-a-jwt")
async def bearer_token_that_is_no_jwt(arena: Arena) -> None:
    response = await arena.request(
        "POST", f"/actors/v2/{JOBS}/messages", json={}, headers=_bearer(arena.nonce, "not-a-jwt")
    )
    assert_problem(response, 401, "not a JWT")


# -- nonces ---------------------------------------------------------------------------------
@attack(message_id="other-actor")
async def nonce_for_another_actor(arena: Arena) -> None:
    response = await arena.request(
        "POST",
        f"/actors/v2/{PIPELINES}/messages",
        json={"name": "x", "components": [{"id": "y"}]},
        params={"x-nonce": arena.nonce},
        headers=mid("other-actor"),
    )
    assert_problem(response, 403, "another actor")


@attack()
async def nonce_of_another_user_read_and_deleted(arena: Arena) -> None:
    url = f"/actors/v2/{JOBS}/nonces/{arena.nonce}"
    for method in ("GET", "DELETE"):
        response = await arena.request(method, url, headers=arena.bearer())
        assert response.status_code in (403, 404), response.text
        assert arena.nonce not in response.text


@attack()
async def exhausted_nonce(arena: Arena) -> None:
    own = await arena.served.new_nonce(JOBS, ATTACKER, maxUses=1)
    first = await arena.request(
        "POST",
        f"/actors/v2/{JOBS}/messages",
        json={"uuid": arena.job, "name": "fail"},
        params={"x-nonce": own},
    )
    await refused_later(arena, first, "token")
    second = await arena.request(
        "POST",
        f"/actors/v2/{JOBS}/messages",
        json={"uuid": arena.job, "name": "fail"},
        params={"x-nonce": own},
    )
    assert_problem(second, 403, "no remaining uses")


@attack()
async def racing_a_nonce_past_its_uses(arena: Arena) -> None:
    own = await arena.served.new_nonce(JOBS, ATTACKER, maxUses=3)
    responses = await asyncio.gather(
        *(
            arena.request(
                "POST",
                f"/actors/v2/{JOBS}/messages",
                params={"x-nonce": own},
                json={"uuid": arena.job, "name": "fail", "token": "0" * 16},
            )
            for _ in range(12)
        )
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * 3 + [403] * 9, statuses
    for response in responses:
        if response.status_code == 403:
            assert "no remaining uses" in response.json()["detail"]
        else:
            await refused_later(arena, response, "is not valid")
    view = await arena.served.nonce_view(JOBS, own, ATTACKER)
    assert view["currentUses"] == 3


# -- archive paths: owned by their job ----------------------------------------------------
def _claim(arena: Arena, path: str, **extra: Any) -> dict[str, Any]:
    return {
        "action": "create",
        "pipeline_uuid": arena.pipeline,
        "sample_id": SAMPLE,
        "data": {"mine": path},
        "archive_path": path,
        "archive_patterns": [{"level": "2", "patterns": []}],
        **extra,
    }


@attack()
async def create_at_another_jobs_archive_path(arena: Arena) -> None:
    response = await arena.send(JOBS, _claim(arena, ALICE_ARCHIVE))
    await refused_later(arena, response, "belongs to that job", "admin token", arena.job)


@attack()
async def create_inside_another_jobs_archive_path(arena: Arena) -> None:
    response = await arena.send(JOBS, _claim(arena, f"{ALICE_ARCHIVE}/mine"))
    await refused_later(arena, response, "overlaps the archive path", "admin token")


@attack()
async def create_containing_another_jobs_archive_path(arena: Arena) -> None:
    response = await arena.send(JOBS, _claim(arena, "/products/v2/alice-lab"))
    await refused_later(arena, response, "overlaps the archive path", "admin token")


@attack()
async def create_containing_every_derived_archive(arena: Arena) -> None:
    response = await arena.send(JOBS, _claim(arena, "/products"))
    await refused_later(arena, response, "/products/v2", "admin token")


@attack()
async def agave_uri_at_another_jobs_archive_path(arena: Arena) -> None:
    system = arena.system.settings.archive_system
    response = await arena.send(JOBS, _claim(arena, f"agave://{system}{ALICE_ARCHIVE}"))
    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        await refused_later(arena, response, "belongs to that job")


@attack()
async def archive_path_escaping_its_storage(arena: Arena) -> None:
    response = await arena.send(JOBS, _claim(arena, "/products/v2/../../../etc"))
    if response.status_code == 200:
        await refused_later(arena, response, "'..' segment")
    else:
        assert_problem(response, 422, "..")


# -- bodies ---------------------------------------------------------------------------------
@attack(message_id="oversize")
async def oversize_body(arena: Arena) -> None:
    body = json.dumps({"uuid": arena.job, "pad": "x" * (2 << 20)})
    response = await arena.send(
        JOBS, None, content=body, headers={"Content-Type": "application/json", **mid("oversize")}
    )
    assert_problem(response, 413, "limit")


@attack(message_id="nested")
async def deeply_nested_body(arena: Arena) -> None:
    body = '{"uuid": ' + "[" * 5000 + "]" * 5000 + "}"
    response = await arena.send(
        JOBS, None, content=body, headers={"Content-Type": "application/json", **mid("nested")}
    )
    assert response.status_code in (413, 422), response.text
    assert "nesting depth" in response.json()["detail"]


@attack(message_id="malformed-json")
async def malformed_json(arena: Arena) -> None:
    response = await arena.send(
        JOBS,
        None,
        content=b'{"uuid": "' + arena.job.encode() + b'", "name": ',
        headers={"Content-Type": "application/json", **mid("malformed-json")},
    )
    assert_problem(response, 422, "JSON")


@attack(message_id="malformed-protobuf")
async def malformed_protobuf(arena: Arena) -> None:
    response = await arena.send(
        JOBS,
        None,
        content=b"\xff\xff\xff\xff\x0f\x0a",
        headers={
            "Content-Type": "application/x-protobuf",
            "X-Message-Type": "JobEvent",
            **mid("malformed-protobuf"),
        },
    )
    assert_problem(response, 422)


# -- regular expressions --------------------------------------------------------------------
@attack(message_id="backreference")
async def filter_needing_backtracking_is_refused(arena: Arena) -> None:
    response = await arena.send(
        INDEXER,
        {"uuid": arena.job, "name": "index", "token": "0" * 16, "filters": [r"(a)\1"]},
        headers=mid("backreference"),
    )
    assert_problem(response, 422, "filters[0]", "back-references")


# -- headers and logs -----------------------------------------------------------------------
@attack(message_id="\x1b[31mred")
async def control_characters_in_a_message_id(arena: Arena) -> None:
    response = await arena.send(JOBS, {"uuid": arena.job}, headers=mid("\x1b[31mred"))
    assert_problem(response, 422, "X-Message-Id", "printable")


async def raw_answer(arena: Arena, head: str, body: str = "{}") -> bytes:
    """What the gateway answers to a request written byte for byte by the attacker (as
    ``head``, a message's request line and headers after ``Authorization``, then ``body``)."""
    host, port = arena.served.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    token = arena.served.token(ATTACKER)
    writer.write(
        f"POST /actors/v2/{JOBS}/messages HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {token}\r\n{head}\r\n{body}".encode()
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    arena.answers.append(answer.decode(errors="replace"))
    return answer


@attack()
async def header_injection_in_a_raw_request(arena: Arena) -> None:
    """A header value carrying a bare CR splits no header: the request is refused whole."""
    answer = await raw_answer(arena, "X-Message-Id: a\rX-Injected: 1\r\nContent-Length: 2\r\n")
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]


@attack()
async def request_smuggling_with_ambiguous_lengths(arena: Arena) -> None:
    """A body whose length two headers state differently could hide a second request from one
    reader and not another: the request is refused whole."""
    smuggled = f"POST /actors/v2/{JOBS}/messages HTTP/1.1\r\nHost: x\r\n\r\n"
    for head, body in (
        ("Content-Length: 2\r\nContent-Length: 40\r\n", "{}" + smuggled),
        ("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n" + smuggled),
    ):
        answer = await raw_answer(arena, head, body)
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
        assert answer.count(b"HTTP/1.1") == 1, answer[:400]


@attack()
async def log_injection_through_message_fields(arena: Arena) -> None:
    """Newlines in what a sender controls never forge a process log line."""
    forged = '\n{"event": "admin login", "level": "critical"}\n'
    response = await arena.send(
        JOBS,
        {"uuid": arena.job, "name": "fail", "token": "0" * 16, "data": {"why": forged}},
        params={"note": forged},
    )
    await refused_later(arena, response, "is not valid")


async def test_execution_ids_do_not_collide_across_senders(
    arena: Arena, process_logs: pytest.CaptureFixture[str]
) -> None:
    """``alice/x`` sending ``p-1`` and ``alice`` sending ``x/p-1`` were one execution, and the
    first read the second's log, which holds the update token of alice's new pipeline."""
    alice = await arena.client.post(
        f"/actors/v2/{PIPELINES}/messages",
        json={"name": "Another", "components": [{"id": "alice-app-2"}]},
        headers=arena.bearer(VICTIM) | mid("x/p-1"),
    )
    alices = await arena.system.wait(alice.json()["result"]["executionId"])
    assert alices["status"] == "COMPLETE", alices["error"]
    new_token = alices["result"]["token"]
    before = await arena.stored()
    process_logs.readouterr()

    impostor = f"{VICTIM}/x"
    response = await arena.send(
        JOBS,
        {"uuid": arena.job, "name": "fail", "token": "0" * 16},
        user=impostor,
        headers=mid("p-1"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["result"]["executionId"] != alices["id"]
    await refused_later_as(arena, response, impostor, "is not valid")
    stolen = await arena.request(
        "GET",
        f"/actors/v2/{PIPELINES}/executions/{alices['id']}/logs",
        headers=arena.bearer(impostor),
    )
    assert_problem(stolen, 403)

    assert await arena.stored() == before
    logs = process_logs.readouterr()
    assert_no_secret(arena, logs.out + logs.err)
    for answer in arena.answers:
        assert new_token not in answer


async def refused_later_as(
    arena: Arena, response: httpx.Response, user: str, *needles: str
) -> None:
    execution = await arena.outcome(response, user=user)
    assert execution["status"] == "ERROR", execution
    for needle in needles:
        assert needle in (execution["error"] or ""), execution["error"]


async def test_a_backtracking_filter_runs_in_linear_time(
    arena: Arena, process_logs: pytest.CaptureFixture[str]
) -> None:
    """``(a+)+$`` on ``aaa...a!`` takes exponential time in a backtracking engine; RE2 runs
    it in linear time, so mallory's own index of her own job finishes."""
    mine = "/products/v2/mallory-lab/run-1"
    created = await arena.outcome(await arena.send(JOBS, _claim(arena, mine)))
    assert created["status"] == "COMPLETE", created["error"]
    job, token = created["result"]["uuid"], created["result"]["token"]
    system = created["result"]["archive_system"]
    await arena.system.storage.write_bytes(system, f"{mine}/{'a' * 200}!", b"x")
    for event in ("run", "finish"):
        done = await arena.outcome(
            await arena.send(JOBS, {"uuid": job, "name": event, "token": token})
        )
        assert done["status"] == "COMPLETE", done["error"]
    indexed = await arena.outcome(
        await arena.send(
            INDEXER,
            {"uuid": job, "name": "index", "token": token, "filters": ["(a+)+$", "(x+x+)+y"]},
        )
    )
    assert indexed["status"] in ("COMPLETE", "ERROR"), indexed
    files = await arena.system.store.find_files(generated_by=arena.job)
    assert {file["level"] for file in files} == {"1"}


async def test_symlinks_out_of_the_storage_are_never_followed(
    arena: Arena, process_logs: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Mallory's compute app leaves links in her job's outputs: to a file outside the storage
    system, and a directory link out of it. Her archive path cannot run through such a link,
    and her index records neither."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0")
    mine = "/products/v2/mallory-lab/run-2"
    created = await arena.outcome(await arena.send(JOBS, _claim(arena, mine)))
    assert created["status"] == "COMPLETE", created["error"]
    job, token = created["result"]["uuid"], created["result"]["token"]
    storage = arena.system.storage
    system = created["result"]["archive_system"]
    local = storage.local_path(system, mine)  # type: ignore[attr-defined]
    (local / "passwd").symlink_to(outside / "passwd")
    (local.parent / "escape").symlink_to(outside, target_is_directory=True)
    for event in ("run", "finish"):
        done = await arena.outcome(
            await arena.send(JOBS, {"uuid": job, "name": event, "token": token})
        )
        assert done["status"] == "COMPLETE", done["error"]

    indexed = await arena.outcome(
        await arena.send(INDEXER, {"uuid": job, "name": "index", "token": token})
    )
    through_link = await arena.outcome(
        await arena.send(JOBS, _claim(arena, "/products/v2/mallory-lab/escape/inside"))
    )

    assert indexed["status"] == "COMPLETE", indexed["error"]
    assert indexed["result"]["indexed"] == 0
    assert await arena.system.store.find_files(generated_by=job) == []
    assert through_link["status"] == "ERROR"
    assert "resolves outside" in through_link["error"], through_link["error"]
    assert not (outside / "inside").exists()
    logs = process_logs.readouterr()
    assert "root:x:0:0" not in logs.err + "".join(arena.answers)


@pytest.fixture
async def arena(make_system: Any, serve_gateway: ServeGateway) -> Arena:
    system = await make_system()
    served = await serve_gateway(system)
    return await victim_arena(system, served)


@pytest.mark.parametrize("row", CATALOGUE, ids=[row.name for row in CATALOGUE])
async def test_attack_is_refused_writes_nothing_and_leaks_nothing(
    row: Row, arena: Arena, process_logs: pytest.CaptureFixture[str]
) -> None:
    before = await arena.stored()
    process_logs.readouterr()

    await row.attack(arena)

    after = await arena.stored()
    assert after == before, f"{row.name} changed what is stored"
    if row.message_id is not None:
        message_id = sender_message_id(f"user:{ATTACKER}", row.message_id)
        assert await arena.system.store.get_execution(execution_id_for(message_id)) is None
    logs = process_logs.readouterr()
    assert_no_secret(arena, logs.out + logs.err)
    assert not any(line.get("event") == "admin login" for line in log_lines(logs.err))


async def test_catalogue_covers_every_class_of_issue_13() -> None:
    names = " ".join(row.name for row in CATALOGUE)
    for needle in (
        "replay",
        "another_case",
        "bearer",
        "alg_none",
        "expired",
        "forged",
        "nonce",
        "racing",
        "archive_path",
        "oversize",
        "nested",
        "malformed_json",
        "malformed_protobuf",
        "backtracking",
        "escaping",
        "header_injection",
        "smuggling",
        "log_injection",
    ):
        assert needle in names, needle


async def test_oidc_tokens_with_the_wrong_audience_or_issuer_are_refused(
    provider: Provider,
    make_system: Any,
    serve_gateway: ServeGateway,
    process_logs: pytest.CaptureFixture[str],
) -> None:
    system = await make_system()
    served = await serve_gateway(system, provider.settings())
    answers = []
    for claims, reason in (
        ({"aud": "another-service"}, f"audience {AUDIENCE!r}"),
        ({"iss": "https://evil.example.org/realms/sd2e"}, f"issued by {ISSUER!r}"),
        ({"exp": int(time.time()) - 3600}, "expired"),
    ):
        token = provider.token(**claims)
        response = await served.client.post(
            f"/actors/v2/{PIPELINES}/messages",
            json={"name": "x", "components": [{"id": "oidc"}]},
            headers={"Authorization": f"Bearer {token}", **mid("oidc")},
        )
        answers.append(response.text)
        assert_problem(response, 401, reason)
        assert token not in response.text
    assert await system.store.count_documents("pipelines") == 0
    logs = process_logs.readouterr()
    assert provider.token() not in logs.err
