"""The health server of an actor process (``PIPELINEJOBS_HEALTH_PORT``): ``/readyz`` is 200 only
while store and bus answer and the process consumes every queue it was started for, ``/healthz``
is 503 once the event loop has not run its heartbeat for too long."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from pipelinejobs.host import health
from pipelinejobs.host.bootstrap import System, build_system
from pipelinejobs.host.process import health_socket
from pipelinejobs.settings import Settings

ALIAS = "pipelines-manager"


def client(system: System, heartbeat: health.Heartbeat | None = None) -> httpx.AsyncClient:
    app = health.health_app(system, [ALIAS], heartbeat or health.Heartbeat())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://actor")


async def test_ready_once_consuming_and_not_after_it_stops(
    make_system: Any, bus_backend: str
) -> None:
    system = await make_system(bus=bus_backend, aliases=[ALIAS])
    async with client(system) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {
            "status": "ready",
            "checks": {"store": "ok", "bus": "ok", "consuming": "ok"},
        }
        assert system.runtime is not None
        await system.runtime.stop()
        stopped = await http.get("/readyz")
    assert stopped.status_code == 503
    assert stopped.json()["checks"]["consuming"] == f"not consuming {ALIAS}"


async def test_not_ready_when_consuming_another_actor_only(make_system: Any) -> None:
    system = await make_system(aliases=["jobs-manager"])
    async with client(system) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert f"not consuming {ALIAS}" in response.json()["detail"]


async def test_not_ready_before_the_system_starts(tmp_path: Path) -> None:
    system = build_system(Settings(data_dir=tmp_path))
    async with client(system) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["consuming"] == "not started"


async def test_not_ready_naming_the_store_when_it_does_not_answer(make_system: Any) -> None:
    system = await make_system(aliases=[ALIAS])
    async with client(system) as http:
        await system.store.close()
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["store"].startswith("unreachable")
    assert response.json()["checks"]["bus"] == "ok"


async def test_alive_while_the_loop_beats_and_not_once_it_stalls(make_system: Any) -> None:
    system = await make_system(aliases=[ALIAS])
    heartbeat = health.Heartbeat()
    async with client(system, heartbeat) as http:
        alive = await http.get("/healthz")
        heartbeat.last = time.monotonic() - health.STALL_LIMIT - 1
        stalled = await http.get("/healthz")
    assert alive.status_code == 200
    assert stalled.status_code == 503
    assert "event loop blocked" in stalled.json()["detail"]


def test_no_health_server_without_a_port(tmp_path: Path) -> None:
    assert health_socket(Settings(data_dir=tmp_path)) is None
    with health_socket(Settings(data_dir=tmp_path, health_port=0)) as bound:
        assert bound is not None
        assert bound.getsockname()[1] > 0
