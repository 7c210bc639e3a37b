"""schemathesis against the served OpenAPI document: no 5xx, every response as documented.

The gateway and its system run in a thread with their own event loop (schemathesis calls
synchronously over HTTP), with the four real actors on the embedded bus and a valid Bearer
token on every generated request. Few examples per operation keep it quick.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from gateway_harness import free_socket
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from pipelinejobs.app import build_system
from pipelinejobs.gateway import GatewaySettings, create_app, issue_token, server_for
from pipelinejobs.settings import Settings
from schemathesis import GenerationMode, checks

EXAMPLES = 5
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


class LiveGateway:
    """The gateway served from a thread; ``stop()`` shuts it and its system down."""

    def __init__(self, data_dir: Path) -> None:
        self.settings = Settings(data_dir=data_dir, log_json=False)
        self.sock = free_socket()
        host, port = self.sock.getsockname()
        self.base_url = f"http://{host}:{port}"
        self.token = ""
        self._ready = threading.Event()
        self._server: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(30) or self._error is not None:
            raise RuntimeError(f"gateway did not start: {self._error!r}")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(30)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        system = build_system(self.settings)
        await system.start()
        try:
            self.token = issue_token(system.secrets.jwt_secret, "fuzzer", roles=["admin"])
            app = create_app(system, GatewaySettings(actor_ids={"G1p783PxpalBB": "jobs-manager"}))
            self._server = server_for(app, *self.sock.getsockname())
            serving = asyncio.create_task(self._server.serve(sockets=[self.sock]))
            while not self._server.started and not serving.done():  # noqa: ASYNC110 (a flag)
                await asyncio.sleep(0.01)
            self._ready.set()
            await serving
        finally:
            await system.close()


@pytest.fixture(scope="module")
def live_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    gateway = LiveGateway(tmp_path_factory.mktemp("fuzz"))
    gateway.start()
    yield gateway
    gateway.stop()


def test_every_operation_answers_as_documented(live_gateway: LiveGateway) -> None:
    schema = schemathesis.openapi.from_url(f"{live_gateway.base_url}/openapi.json")
    headers = {"Authorization": f"Bearer {live_gateway.token}"}
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 12
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
                phases=[Phase.explicit, Phase.generate],
            )
            def call(case: Any) -> None:
                case.call_and_validate(
                    base_url=live_gateway.base_url, headers=headers, checks=CHECKS, timeout=30
                )

            try:
                call()
            except Unsatisfiable:
                # Nothing can be wrong in an operation without inputs (e.g. /healthz).
                assert mode is GenerationMode.NEGATIVE, operation.label
