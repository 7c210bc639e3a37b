"""Fixtures of the SDK tests (defined in ``client_harness``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from client_harness import Sdk, make_sdk


@pytest.fixture
async def sdk(make_system: Any) -> AsyncIterator[Sdk]:
    """The SDK over a system with the four actors, the demo catalog and one pipeline."""
    system = await make_system()
    sdk = await make_sdk(system)
    yield sdk
    await sdk.gateway.aclose()
