"""Fixtures of the gateway's end-to-end tests (defined in ``gateway_harness``)."""

from gateway_harness import serve_gateway, served

__all__ = ["serve_gateway", "served"]
