"""The SDK for scripts that do not use asyncio: the same classes, each method blocking.

Each :class:`Gateway` owns a private event loop on a daemon thread and runs the asynchronous
client's coroutines there, so the blocking calls also work where an event loop is already
running (a notebook, a callback of another framework). Close the gateway (or use it in a
``with`` block) to stop its thread.

    with Gateway("http://127.0.0.1:8000", token=TOKEN) as gateway:
        job = ManagedPipelineJob(gateway, pipeline_uuid, sample_id="sample.tacc.abcde")
        job.setup()
        job.run({"launched": "by a script"})
        job.finish()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from pipelinejobs.client import gateway as asynchronous
from pipelinejobs.client import managed_job, readers
from pipelinejobs.client.gateway import DEFAULT_TIMEOUT, DEFAULT_WAIT

T = TypeVar("T")
LIVENESS_CHECK = 1.0
"""Seconds between checks, while a call waits, that the loop thread still runs."""
LOOP_THREAD = "pipelinejobs-client"


class _LoopThread:
    """An event loop running forever on its own daemon thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=LOOP_THREAD, daemon=True
        )
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for it. Every call bounds itself (HTTP timeout,
        wait timeout), so the wait has no deadline of its own; but a loop that stopped would
        never finish it, so the wait checks the thread, and an interrupted caller (Ctrl+C)
        cancels the coroutine instead of leaving it running."""
        if not self._thread.is_alive():
            coroutine.close()
            raise RuntimeError("this pipelinejobs client is closed; make a new Gateway")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            while not future.done():
                concurrent.futures.wait([future], timeout=LIVENESS_CHECK)
                if not future.done() and not self._thread.is_alive():
                    raise RuntimeError(
                        "this pipelinejobs client's event loop stopped during the call; "
                        "make a new Gateway"
                    )
        except BaseException:
            future.cancel()
            raise
        return future.result()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        pending = asyncio.all_tasks(self._loop)
        for task in pending:  # calls cut short by a stopped loop: end them, here
            task.cancel()
        if pending:
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()


class Gateway:
    """Blocking :class:`~pipelinejobs.client.gateway.AsyncGateway`."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        nonce: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._closed = False
        self._loop = _LoopThread()
        try:
            self.asynchronous = asynchronous.AsyncGateway(
                base_url, token, nonce, transport, timeout=timeout
            )
        except BaseException:
            self._closed = True
            self._loop.close()  # a Gateway that cannot be made must not leave its thread
            raise

    def __repr__(self) -> str:
        return f"Gateway({self.base_url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections and stop the private event loop (again: nothing)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._loop.alive:
                self._run(self.asynchronous.aclose())
        finally:
            self._loop.close()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._loop.run(coroutine)

    @property
    def base_url(self) -> str:
        return self.asynchronous.base_url

    @property
    def token(self) -> str | None:
        return self.asynchronous.token

    @property
    def nonce(self) -> str | None:
        return self.asynchronous.nonce

    def messages_url(self, actor: str) -> str:
        return self.asynchronous.messages_url(actor)

    def send(
        self,
        actor: str,
        document: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        *,
        message_id: str | None = None,
    ) -> str:
        return self._run(self.asynchronous.send(actor, document, params, message_id=message_id))

    def execution(self, actor: str, execution_id: str) -> dict[str, Any]:
        return self._run(self.asynchronous.execution(actor, execution_id))

    def logs(self, actor: str, execution_id: str) -> str:
        return self._run(self.asynchronous.logs(actor, execution_id))

    def wait(self, actor: str, execution_id: str, timeout: float = DEFAULT_WAIT) -> dict[str, Any]:
        return self._run(self.asynchronous.wait(actor, execution_id, timeout))

    def call(
        self,
        actor: str,
        document: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        *,
        timeout: float = DEFAULT_WAIT,
    ) -> dict[str, Any]:
        return self._run(self.asynchronous.call(actor, document, params, timeout=timeout))

    def create_nonce(
        self,
        actor: str,
        *,
        level: str = "EXECUTE",
        max_uses: int = -1,
        description: str = "",
        expires_in: int | None = None,
    ) -> dict[str, Any]:
        return self._run(
            self.asynchronous.create_nonce(
                actor,
                level=level,
                max_uses=max_uses,
                description=description,
                expires_in=expires_in,
            )
        )

    def list_nonces(self, actor: str) -> readers.Documents:
        return self._run(self.asynchronous.list_nonces(actor))

    def delete_nonce(self, actor: str, nonce_id: str) -> None:
        self._run(self.asynchronous.delete_nonce(actor, nonce_id))

    def dead_letters(self, actor: str | None = None, *, limit: int = 100) -> readers.Documents:
        return self._run(self.asynchronous.dead_letters(actor, limit=limit))

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._run(self.asynchronous.get(path, params))

    def load_catalog(self, document: Mapping[str, Any]) -> dict[str, int]:
        return self._run(self.asynchronous.load_catalog(document))

    def ready(self) -> dict[str, Any]:
        return self._run(self.asynchronous.ready())


class PipelinesClient:
    """Blocking :class:`~pipelinejobs.client.readers.PipelinesClient`."""

    def __init__(self, gateway: Gateway, *, timeout: float = DEFAULT_WAIT) -> None:
        self.gateway = gateway
        self.asynchronous = readers.PipelinesClient(gateway.asynchronous, timeout=timeout)

    def page(
        self, *, state: str | None = None, limit: int = readers.DEFAULT_PAGE, offset: int = 0
    ) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.page(state=state, limit=limit, offset=offset))

    def list(
        self, *, state: str | None = None, limit: int = readers.DEFAULT_PAGE, offset: int = 0
    ) -> readers.Documents:
        return self.gateway._run(self.asynchronous.list(state=state, limit=limit, offset=offset))

    def get(self, uuid: str) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.get(uuid))

    def history(self, uuid: str) -> readers.Documents:
        return self.gateway._run(self.asynchronous.history(uuid))

    def create(self, document: Mapping[str, Any]) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.create(document))

    def update(self, uuid: str, changes: Mapping[str, Any], token: str) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.update(uuid, changes, token))

    def retire(self, uuid: str, token: str) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.retire(uuid, token))


class JobsClient:
    """Blocking :class:`~pipelinejobs.client.readers.JobsClient`."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.asynchronous = readers.JobsClient(gateway.asynchronous)

    def page(
        self,
        *,
        state: str | None = None,
        pipeline_uuid: str | None = None,
        limit: int = readers.DEFAULT_PAGE,
        offset: int = 0,
    ) -> dict[str, Any]:
        return self.gateway._run(
            self.asynchronous.page(
                state=state, pipeline_uuid=pipeline_uuid, limit=limit, offset=offset
            )
        )

    def list(
        self,
        *,
        state: str | None = None,
        pipeline_uuid: str | None = None,
        limit: int = readers.DEFAULT_PAGE,
        offset: int = 0,
    ) -> readers.Documents:
        return self.gateway._run(
            self.asynchronous.list(
                state=state, pipeline_uuid=pipeline_uuid, limit=limit, offset=offset
            )
        )

    def get(self, uuid: str) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.get(uuid))

    def history(self, uuid: str) -> readers.Documents:
        return self.gateway._run(self.asynchronous.history(uuid))

    def history_page(
        self, uuid: str, *, after: int = 0, limit: int = readers.EVENT_PAGE
    ) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.history_page(uuid, after=after, limit=limit))

    def events(self, uuid: str) -> readers.Names:
        return self.gateway._run(self.asynchronous.events(uuid))

    def next_events(self, uuid: str) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.next_events(uuid))

    def files(
        self, uuid: str, *, limit: int = readers.DEFAULT_PAGE, offset: int = 0
    ) -> readers.Documents:
        return self.gateway._run(self.asynchronous.files(uuid, limit=limit, offset=offset))


class CatalogClient:
    """Blocking :class:`~pipelinejobs.client.readers.CatalogClient`."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.asynchronous = readers.CatalogClient(gateway.asynchronous)

    def page(
        self, record_type: str = "experiment", *, limit: int = readers.DEFAULT_PAGE, offset: int = 0
    ) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.page(record_type, limit=limit, offset=offset))

    def get(self, record_id: str) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.get(record_id))

    def children(self, record: Mapping[str, Any]) -> readers.Documents:
        return self.gateway._run(self.asynchronous.children(record))

    def tree(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.tree(record))

    def ancestors(self, record: Mapping[str, Any]) -> readers.Documents:
        return self.gateway._run(self.asynchronous.ancestors(record))


class FilesClient:
    """Blocking :class:`~pipelinejobs.client.readers.FilesClient`."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.asynchronous = readers.FilesClient(gateway.asynchronous)

    def page(
        self,
        *,
        name: str | None = None,
        generated_by: str | None = None,
        limit: int = readers.DEFAULT_PAGE,
        offset: int = 0,
    ) -> dict[str, Any]:
        return self.gateway._run(
            self.asynchronous.page(name=name, generated_by=generated_by, limit=limit, offset=offset)
        )

    def get(self, file: str) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.get(file))


class ManagedPipelineJob:
    """Blocking :class:`~pipelinejobs.client.managed_job.ManagedPipelineJob` (same arguments,
    with a :class:`Gateway`)."""

    def __init__(self, gateway: Gateway, pipeline_uuid: str, **options: Any) -> None:
        self.gateway = gateway
        self.asynchronous = managed_job.ManagedPipelineJob(
            gateway.asynchronous, pipeline_uuid, **options
        )

    def __repr__(self) -> str:
        return repr(self.asynchronous)

    @property
    def uuid(self) -> str | None:
        return self.asynchronous.uuid

    @property
    def token(self) -> str | None:
        return self.asynchronous.token

    @property
    def state(self) -> str | None:
        return self.asynchronous.state

    @property
    def archive_path(self) -> str | None:
        return self.asynchronous.archive_path

    @property
    def archive_system(self) -> str | None:
        return self.asynchronous.archive_system

    @property
    def session(self) -> str | None:
        return self.asynchronous.session

    @property
    def created(self) -> bool | None:
        return self.asynchronous.created

    @property
    def data(self) -> dict[str, Any]:
        return self.asynchronous.data

    @property
    def callback(self) -> str:
        return self.asynchronous.callback

    def agave_notifications(self) -> readers.Documents:
        return self.asynchronous.agave_notifications()

    def archive_uri(self) -> str:
        return self.asynchronous.archive_uri()

    def setup(self, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.setup(data))

    def run(self, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.run(data))

    def resource(self, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.resource(data))

    def update(self, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.update(data))

    def finish(self, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.finish(data))

    def fail(self, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.fail(data))

    def index(self, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.index(data))

    def indexed(self, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.indexed(data))

    def reset(
        self, admin_token: str, data: Mapping[str, Any] | None = None, *, ready: bool = True
    ) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.reset(admin_token, data, ready=ready))

    def ready(self, admin_token: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.ready(admin_token, data))

    def cancel(self) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.cancel())

    def handle(
        self, event: str, data: Mapping[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        return self.gateway._run(self.asynchronous.handle(event, data, token=token))

    def current_state(self) -> str | None:
        return self.gateway._run(self.asynchronous.current_state())


__all__ = ["Gateway", "JobsClient", "ManagedPipelineJob", "PipelinesClient"]
