"""The ``compute`` fixture: every contract test runs on the Agave client and on the local
execution system, each freshly made.

The Agave stand-in and the notification receiver are the compute integration tests' own
helpers (``tests/integration/compute``); that folder is put on the import path here so that
both suites use the same ones.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "integration" / "compute"))

from compute_backends import AgaveBackend, ComputeBackend, LocalBackend
from notification_receiver import receiver


@pytest.fixture(params=["agave", "local"])
async def compute(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ComputeBackend]:
    backend: AgaveBackend | LocalBackend
    if request.param == "agave":
        backend = AgaveBackend()
    else:
        backend = LocalBackend(tmp_path)
        await backend.start()
    yield backend
    await backend.close()


__all__ = ["receiver"]
