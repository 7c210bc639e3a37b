"""Fixtures of the attack catalogue: the gateway harness of ``tests/e2e/gateway`` (a real
system served over a real port) and its OIDC provider, reused rather than copied."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e" / "gateway"))

from gateway_harness import serve_gateway, served
from oidc_provider import provider

__all__ = ["provider", "serve_gateway", "served"]
