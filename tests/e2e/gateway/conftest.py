"""Fixtures of the gateway's end-to-end tests (defined in ``gateway_harness`` and
``oidc_provider``)."""

from gateway_harness import serve_gateway, served
from oidc_provider import provider

__all__ = ["provider", "serve_gateway", "served"]
