"""Fixtures of the compute tests: the Agave stand-in, a notification receiver, a local system."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from agave_standin import AgaveStandIn
from compute_harness import ARCHIVE_SYSTEM, LocalSetup
from notification_receiver import receiver
from pipelinejobs.compute.apps import install_example_apps
from pipelinejobs.compute.local import LocalExecutionSystem, RetryPolicy
from pipelinejobs.storage.local import LocalStorage


@pytest.fixture
def standin() -> AgaveStandIn:
    return AgaveStandIn()


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[LocalSetup]:
    """A started local execution system with the example apps, fast notification retries."""
    storage = LocalStorage(tmp_path / "storage")
    apps_dir = tmp_path / "apps"
    install_example_apps(apps_dir)
    system = LocalExecutionSystem(
        apps_dir,
        storage,
        work_dir=tmp_path / "work",
        archive_system_default=ARCHIVE_SYSTEM,
        notify_retry=RetryPolicy(0.05, 0.2, horizon=120),
        max_concurrent_jobs=2,
    )
    await system.start()
    yield LocalSetup(system, storage, apps_dir)
    await system.close(grace=1.0)


__all__ = ["receiver"]
