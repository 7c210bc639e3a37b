"""Put the demo in place on a running system: catalog, pipeline.

Everything here is idempotent, so ``pipelinejobs up`` runs it at every start: the catalog
records are rewritten as they are, and the pipeline is registered only when the store does not
have it yet. The example apps the pipeline runs, and their example inputs, are not installed
here: the local execution system installs them itself wherever it starts (``up``, or an ``actor
agave-proxy`` process), see :mod:`pipelinejobs.compute.factory`. ``pipelinejobs demo`` prepares
the same catalog and pipeline through the gateway (:mod:`pipelinejobs.demo.walkthrough`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelinejobs.application.catalog import load_catalog
from pipelinejobs.demo.content import DEMO_CATALOG, DEMO_PIPELINE
from pipelinejobs.domain.actors import PIPELINES_MANAGER
from pipelinejobs.domain.identifiers import pipeline_uuid
from pipelinejobs.errors import PermanentError
from pipelinejobs.host.bootstrap import System

REGISTRATION_WAIT = 60.0


@dataclass(frozen=True)
class DemoContent:
    """What the demo put in place."""

    pipeline_uuid: str
    pipeline_registered: bool
    """True when this call registered the pipeline, False when it was there already."""
    catalog: dict[str, int]


async def install_demo(system: System, *, owner: str = "user:admin") -> DemoContent:
    """Load the demo catalog, and register the demo pipeline (as ``owner``)
    unless the store has it. The system must be started with a pipelines-manager consuming."""
    catalog = await load_catalog(system.store, DEMO_CATALOG, domain=system.settings.uuid_domain)
    uuid = pipeline_uuid(DEMO_PIPELINE["components"], domain=system.settings.uuid_domain)
    registered = False
    if await system.store.get_document("pipelines", uuid) is None:
        execution_id = await system.send(PIPELINES_MANAGER, DEMO_PIPELINE, sender=owner)
        execution = await system.wait(execution_id, within=REGISTRATION_WAIT)
        registered = execution["status"] == "COMPLETE"
        if not registered and await system.store.get_document("pipelines", uuid) is None:
            raise PermanentError(
                f"the demo pipeline could not be registered: {execution.get('error')}"
            )
    return DemoContent(pipeline_uuid=uuid, pipeline_registered=registered, catalog=catalog)
