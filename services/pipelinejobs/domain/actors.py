"""The actor aliases of pipelinejobs: the names messages are addressed to.

Each alias names an actor in URLs (``/actors/v2/<alias>/messages``), a bus queue, a nonce's
scope and a follow-up message's destination, so it is spelled here once.
"""

from __future__ import annotations

PIPELINES_MANAGER = "pipelines-manager"
JOBS_MANAGER = "jobs-manager"
JOBS_INDEXER = "jobs-indexer"
AGAVE_PROXY = "agave-proxy"

ACTOR_ALIASES: tuple[str, ...] = (PIPELINES_MANAGER, JOBS_MANAGER, JOBS_INDEXER, AGAVE_PROXY)
"""Every actor of the system, in the documentation's order (the queues a bus declares)."""
