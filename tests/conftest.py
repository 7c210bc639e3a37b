"""Shared fixtures: a whole pipelinejobs system on the embedded adapters or on RabbitMQ.

``make_system`` builds and starts a :class:`~pipelinejobs.host.bootstrap.System` in a temporary data
directory. Tests parametrized with the ``bus_backend`` fixture run once on the in-process bus and
once on the real RabbitMQ broker (``PIPELINEJOBS_TEST_AMQP_URL``, default the local guest broker),
each in its own bus namespace so runs never see each other's queues.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pipelinejobs.settings import Settings

if TYPE_CHECKING:
    from pipelinejobs.actors.base import Actor
    from pipelinejobs.compute.port import ComputeService
    from pipelinejobs.host.bootstrap import System

AMQP_URL = os.environ.get("PIPELINEJOBS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")

MakeSystem = Callable[..., Awaitable["System"]]


@pytest.fixture(params=["embedded", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def bus_backend(request: pytest.FixtureRequest) -> str:
    """Run the test on the in-process bus and on RabbitMQ."""
    return str(request.param)


def make_settings(data_dir: Path, *, bus: str = "embedded", **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "public_url": "http://127.0.0.1:8000",
        "retry_base_delay": 0.05,
        "retry_max_delay": 0.2,
        "log_json": False,
    }
    if bus == "rabbitmq":
        values["amqp_url"] = AMQP_URL
        values["bus_namespace"] = f"test-{uuid.uuid4().hex[:12]}"
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def make_system(tmp_path: Path) -> AsyncIterator[MakeSystem]:
    """Factory: ``await make_system(bus=..., actors=..., compute=..., **settings)``."""
    from pipelinejobs.host.bootstrap import (
        build_system,  # imported late: collection needs no adapters
    )

    systems: list[System] = []

    async def factory(
        *,
        bus: str = "embedded",
        actors: Sequence[Actor] | None = None,
        compute: ComputeService | None = None,
        aliases: Sequence[str] | None = None,
        data_dir: Path | None = None,
        **overrides: Any,
    ) -> System:
        settings = make_settings(data_dir or tmp_path / f"data{len(systems)}", bus=bus, **overrides)
        system = build_system(settings, actors=actors, compute=compute)
        systems.append(system)
        await system.start(aliases)
        return system

    yield factory
    for system in reversed(systems):
        await system.close()
        delete = getattr(system.bus, "delete_topology", None)
        if delete is not None:
            await delete()
