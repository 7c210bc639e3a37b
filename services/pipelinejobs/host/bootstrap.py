"""Bootstrap: wire settings, store, bus, storage, compute, tokens, actors and the runtime.

Hand-wired, no framework (as in Cosmic Python's ``bootstrap``). The same code runs embedded
(SQLite + in-process bus, one process) and distributed (MongoDB + RabbitMQ, a process per actor);
only the settings differ.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pipelinejobs.actors.base import Actor
from pipelinejobs.actors.runtime import Runtime
from pipelinejobs.application.submission import submit
from pipelinejobs.bus.factory import create_bus
from pipelinejobs.bus.port import Bus
from pipelinejobs.compute.port import ComputeService
from pipelinejobs.domain.actors import ACTOR_ALIASES, AGAVE_PROXY
from pipelinejobs.domain.executions import ExecutionStatus
from pipelinejobs.domain.tokens import AdminTokens, UpdateTokens
from pipelinejobs.logs import configure_logging
from pipelinejobs.secrets import ServerSecrets, load_secrets
from pipelinejobs.settings import Settings
from pipelinejobs.storage.port import Storage
from pipelinejobs.store.factory import create_store
from pipelinejobs.store.port import Store

FINAL_STATUSES = frozenset({ExecutionStatus.COMPLETE.value, ExecutionStatus.ERROR.value})


@runtime_checkable
class Lifecycle(Protocol):
    """A component with its own start and close (the compute services have them)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...


@dataclass
class System:
    """Every component of one running pipelinejobs process."""

    settings: Settings
    secrets: ServerSecrets
    store: Store
    bus: Bus
    storage: Storage
    compute: ComputeService | None
    update_tokens: UpdateTokens
    admin_tokens: AdminTokens
    actors: list[Actor] = field(default_factory=list)
    runtime: Runtime | None = None

    async def start(self, aliases: Sequence[str] | None = None) -> None:
        """Connect store and bus; consume the queues of ``aliases`` (default: all actors).

        The compute service is started where its one user, the agave-proxy, runs (a process
        that only serves HTTP or runs another actor has no use for it).
        """
        await self.store.start()
        await self.bus.start()
        consumed = [actor.alias for actor in self.actors] if aliases is None else list(aliases)
        if AGAVE_PROXY in consumed and isinstance(self.compute, Lifecycle):
            await self.compute.start()
        self.runtime = Runtime(
            bus=self.bus,
            store=self.store,
            settings=self.settings,
            update_tokens=self.update_tokens,
            admin_tokens=self.admin_tokens,
            actors=self.actors,
        )
        if self.actors:
            await self.runtime.start(aliases)

    async def close(self) -> None:
        """Stop the compute service first (its last callbacks still find the actors), then stop
        consuming (in-flight handlers finish), then disconnect bus and store."""
        if isinstance(self.compute, Lifecycle):
            await self.compute.close()
        if self.runtime is not None:
            await self.runtime.stop()
        await self.bus.close()
        await self.store.close()

    async def send(
        self,
        actor: str,
        document: Any = None,
        *,
        context: Mapping[str, str] | None = None,
        sender: str | None = "user:local",
        body: bytes | None = None,
        content_type: str = "application/json",
        message_type: str | None = None,
        message_id: str | None = None,
    ) -> str:
        """Submit a message as the gateway would; returns the execution id.

        ``message_id`` names the message (a new one by default); sending again with the same id
        is the same message, as a retried HTTP request with the same X-Message-Id is.
        """
        if body is None:
            body = b"" if document is None else json.dumps(document).encode()
        return await submit(
            self.store,
            self.bus,
            actor,
            body=body,
            content_type=content_type,
            message_type=message_type,
            context=context,
            sender=sender,
            message_id=message_id,
            document=document,
        )

    async def wait(self, execution_id: str, within: float = 30.0) -> dict[str, Any]:
        """Poll until the execution is COMPLETE or ERROR; ``TimeoutError`` after ``within`` s.

        An execution not recorded yet is waited for too: a follow-up message's execution
        appears only once an actor takes it, after the message that sent it was handled.
        """
        deadline = time.monotonic() + within
        while True:
            execution = await self.store.get_execution(execution_id)
            if execution is not None and execution["status"] in FINAL_STATUSES:
                return execution
            if time.monotonic() > deadline:
                state = "not recorded" if execution is None else f"still {execution['status']}"
                raise TimeoutError(f"execution {execution_id} {state} after {within} s")
            await asyncio.sleep(0.02)


def default_actors(
    settings: Settings, storage: Storage, compute: ComputeService | None
) -> list[Actor]:
    """The four actors of the documentation."""
    from pipelinejobs.actors.agave_proxy import AgaveProxy
    from pipelinejobs.actors.jobs_indexer import JobsIndexer
    from pipelinejobs.actors.jobs_manager import JobsManager
    from pipelinejobs.actors.pipelines_manager import PipelinesManager

    return [
        PipelinesManager(),
        JobsManager(storage=storage),
        JobsIndexer(storage=storage),
        AgaveProxy(storage=storage, compute=compute),
    ]


def build_system(
    settings: Settings | None = None,
    *,
    actors: Sequence[Actor] | None = None,
    compute: ComputeService | None = None,
    storage: Storage | None = None,
    configure_logs: bool = False,
) -> System:
    """Everything a process needs, from settings (environment by default).

    Without ``compute`` and ``actors``, the default actors get the configured compute service
    (:func:`~pipelinejobs.compute.factory.create_compute`).
    """
    settings = settings or Settings()
    if configure_logs:
        configure_logging(settings.log_level, json_lines=settings.log_json)
    secrets = load_secrets(settings)
    from pipelinejobs.storage.local import LocalStorage

    storage = storage or LocalStorage(settings.data_dir / "storage")
    if compute is None and actors is None:
        # The default actors include the agave-proxy, which needs a compute service: the one
        # configured (PIPELINEJOBS_COMPUTE_URL), else the embedded local execution system.
        from pipelinejobs.compute.factory import create_compute

        compute = create_compute(settings, storage)
    store = create_store(
        settings.mongodb_url.get_secret_value() if settings.mongodb_url else None,
        settings.data_dir,
        database=settings.mongodb_database,
        write_concern=settings.mongodb_write_concern,
        journal=settings.mongodb_journal,
        lock_timeout=settings.store_lock_timeout,
    )
    actor_list = list(actors) if actors is not None else default_actors(settings, storage, compute)
    bus = create_bus(
        settings.amqp_url.get_secret_value() if settings.amqp_url else None,
        partitions=settings.bus_partitions,
        namespace=settings.bus_namespace,
        actors=[actor.alias for actor in actor_list] or ACTOR_ALIASES,
        balance_interval=settings.bus_balance_interval or None,
    )
    return System(
        settings=settings,
        secrets=secrets,
        store=store,
        bus=bus,
        storage=storage,
        compute=compute,
        update_tokens=UpdateTokens(secrets.token_keys),
        admin_tokens=AdminTokens(secrets.admin_key, lifetime=settings.admin_token_lifetime),
        actors=actor_list,
    )
