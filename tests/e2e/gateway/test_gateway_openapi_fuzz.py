"""schemathesis against the served OpenAPI document: no 5xx, every response as documented.

The gateway and its system run in a thread with their own event loop (schemathesis calls
synchronously over HTTP), with the four real actors on the embedded bus and stored documents to
find: a pipeline registered through the pipelines-manager, a job, executions, nonces. Generated
requests name those (real aliases and the configured actor id, execution ids, nonce ids, uuids)
instead of random strings, except in the one parameter a negative case breaks, so the 2xx
replies are checked against their schemas too. Every operation runs with a Bearer token, and
those that accept one also with a nonce of the URL's actor. Few examples per operation keep it
quick.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import schemathesis
from gateway_harness import free_socket
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from pipelinejobs.application.catalog import load_catalog
from pipelinejobs.application.ledger import history_event
from pipelinejobs.domain.identifiers import UUIDType, file_uuid, typed_uuid
from pipelinejobs.gateway import GatewaySettings, create_app, create_nonce, issue_token, server_for
from pipelinejobs.host.bootstrap import System, build_system
from pipelinejobs.settings import Settings
from schemathesis import GenerationMode, checks
from schemathesis.core.parameters import ParameterLocation

EXAMPLES = 5
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]
ALIASES = ("pipelines-manager", "jobs-manager", "jobs-indexer", "agave-proxy")
ACTOR_IDS = {"G1p783PxpalBB": "jobs-manager"}
USER = "fuzzer"
CATALOG = {
    "experiment_designs": [{"id": "design.fuzz"}],
    "experiments": [{"id": "experiment.fuzz", "experiment_design": "design.fuzz"}],
    "samples": [{"id": "sample.fuzz", "experiment": "experiment.fuzz"}],
    "measurements": [{"id": "measurement.fuzz", "sample": "sample.fuzz"}],
}
NONCE_ROUTES = (
    "/v2/{actor}",
    "/messages",
    "/executions",
    "/executions/{execution_id}",
    "/executions/{execution_id}/logs",
)
"""The operations (path endings) a nonce authorizes; the others answer it 401."""
Auth = Literal["bearer", "nonce"]


@dataclass
class Seeded:
    """What the fuzzer's requests name: documents and records that exist."""

    token: str = ""
    pipeline: str = ""
    job: str = ""
    job_token: str = ""
    file: str = ""
    catalog: dict[str, list[str]] = field(default_factory=dict)
    """Per catalog section, one record's text id and typed UUID ("records": all of them)."""
    executions: list[str] = field(default_factory=list)
    auth_nonces: dict[str, str] = field(default_factory=dict)
    """One unlimited EXECUTE nonce per alias, for authenticating (never deleted)."""
    path_nonces: dict[str, list[str]] = field(default_factory=dict)
    """Nonces per alias for ``{nonce_id}`` (DELETE may remove them)."""

    def bodies(self, alias: str) -> list[dict[str, Any]]:
        """Messages the actor's check accepts (so POST .../messages can answer 200)."""
        return {
            "pipelines-manager": [{"name": "Fuzzed", "components": [{"id": "fuzz-app-0.2"}]}],
            "jobs-manager": [{"uuid": self.job, "name": "finish", "token": self.job_token}],
            "jobs-indexer": [
                {"uuid": self.job, "name": "index", "token": self.job_token, "level": "2"}
            ],
        }.get(alias, [])


class LiveGateway:
    """The gateway served from a thread; ``stop()`` shuts it and its system down."""

    def __init__(self, data_dir: Path) -> None:
        self.settings = Settings(data_dir=data_dir, log_json=False)
        self.sock = free_socket()
        host, port = self.sock.getsockname()
        self.base_url = f"http://{host}:{port}"
        self.seeded = Seeded()
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
            await self._seed(system)
            app = create_app(system, GatewaySettings(actor_ids=ACTOR_IDS))
            self._server = server_for(app, *self.sock.getsockname())
            serving = asyncio.create_task(self._server.serve(sockets=[self.sock]))
            while not self._server.started and not serving.done():  # noqa: ASYNC110 (a flag)
                await asyncio.sleep(0.01)
            self._ready.set()
            await serving
        finally:
            await system.close()

    async def _seed(self, system: System) -> None:
        seeded = self.seeded
        seeded.token = issue_token(system.secrets.jwt_secret, USER, roles=["admin"])
        sender = f"user:{USER}"
        registered = await system.wait(
            await system.send(
                "pipelines-manager",
                {"name": "Fuzz target", "components": [{"id": "fuzz-app-0.1"}]},
                sender=sender,
            )
        )
        assert registered["status"] == "COMPLETE", registered["error"]
        seeded.pipeline = registered["result"]["uuid"]
        seeded.job = typed_uuid("fuzzed job", UUIDType.PIPELINEJOB)
        events = [history_event(name, {}, domain="sd2e.org") for name in ("create", "run")]
        job = {
            "uuid": seeded.job,
            "pipeline_uuid": seeded.pipeline,
            "archive_path": "/products/v2/fuzz",
            "archive_system": "data-sd2e-community",
            "archive_patterns": [],
            "data": {},
            "derived_from": [],
            "generated_by": [seeded.pipeline],
            "history": events,
            "last_event": "run",
            "state": "RUNNING",
            "updated": events[-1]["date"],
            "created": events[0]["date"],
            "owner": sender,
        }
        await system.store.create_document("jobs", job, message_id="fuzz-job")
        seeded.job_token = system.update_tokens.issue(seeded.job)
        await load_catalog(system.store, CATALOG, domain=system.settings.uuid_domain)
        for section, entries in CATALOG.items():
            record = await system.store.get_catalog_record(entries[0]["id"])
            assert record is not None
            seeded.catalog[section] = [record["id"], record["uuid"]]
        seeded.catalog["records"] = [key for keys in seeded.catalog.values() for key in keys]
        seeded.file = file_uuid("/products/v2/fuzz/out.txt")
        await system.store.upsert_file(
            {
                "uuid": seeded.file,
                "name": "/products/v2/fuzz/out.txt",
                "level": "1",
                "generated_by": [seeded.job],
            }
        )
        seeded.executions = [registered["id"]]
        for alias in ALIASES:  # an ERROR execution per actor: {} is no actor's message
            seeded.executions.append(await system.send(alias, {}, sender=sender))
            nonce = await create_nonce(system.store, alias, USER, "EXECUTE")
            seeded.auth_nonces[alias] = nonce["id"]
            seeded.path_nonces[alias] = [
                (await create_nonce(system.store, alias, USER, level, 5))["id"]
                for level in ("READ", "EXECUTE", "EXECUTE")
            ]
        for execution_id in seeded.executions:
            await system.wait(execution_id)


@pytest.fixture(scope="module")
def live_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    gateway = LiveGateway(tmp_path_factory.mktemp("fuzz"))
    gateway.start()
    yield gateway
    gateway.stop()


def has_inputs(operation: Any) -> bool:
    """Whether the operation takes anything a case could get wrong (parameters or a body)."""
    raw = operation.definition.raw
    return bool(raw.get("parameters") or raw.get("requestBody"))


def broken_parameters(case: Any) -> set[str]:
    """The path parameters a negative case made invalid on purpose (kept as generated)."""
    phase = case.meta.phase.data if case.meta is not None else None
    mutations = getattr(phase, "mutations", ())
    broken = {str(m.parameter) for m in mutations if m.parameter_location == ParameterLocation.PATH}
    if getattr(phase, "parameter_location", None) == ParameterLocation.PATH:
        broken.add(str(phase.parameter))
    return broken


def use_stored_records(case: Any, data: st.DataObject, seeded: Seeded) -> str | None:
    """Point the case's path at stored records; returns the actor's alias, if it has one."""
    path = case.path_parameters
    broken = broken_parameters(case)
    alias = None
    if "actor" in path and "actor" not in broken:
        path["actor"] = data.draw(st.sampled_from([*ALIASES, *ACTOR_IDS]), label="actor")
        alias = ACTOR_IDS.get(path["actor"], path["actor"])
    if "execution_id" in path and "execution_id" not in broken:
        path["execution_id"] = data.draw(st.sampled_from(seeded.executions), label="execution")
    if "nonce_id" in path and "nonce_id" not in broken and alias is not None:
        choices = seeded.path_nonces[alias]
        path["nonce_id"] = data.draw(st.sampled_from(choices), label="nonce")
    if "uuid" in path and "uuid" not in broken:
        stored = {"/pipelines": seeded.pipeline, "/files": seeded.file}.get(
            "/" + case.path.split("/")[1], seeded.job
        )
        path["uuid"] = stored
    if "record_id" in path and "record_id" not in broken:
        section = case.path.split("/")[2]
        path["record_id"] = data.draw(st.sampled_from(seeded.catalog[section]), label="record")
    case.path_parameters = path
    return alias


def use_a_valid_message(case: Any, data: st.DataObject, seeded: Seeded, alias: str) -> None:
    """Sometimes send a message the actor accepts, so POST .../messages answers 200 too."""
    bodies = seeded.bodies(alias)
    if bodies and data.draw(st.booleans(), label="valid message"):
        case.body = data.draw(st.sampled_from(bodies), label="message")
        case.media_type = "application/json"
        case.headers = {
            name: value
            for name, value in (case.headers or {}).items()
            if name.lower() != "x-message-type"
        }
        case.query = {
            name: value for name, value in (case.query or {}).items() if name != "message"
        }


def authenticate(case: Any, auth: Auth, seeded: Seeded, alias: str | None) -> dict[str, str]:
    """The request's credentials: the Bearer token, or the nonce of the URL's actor."""
    case.query = {k: v for k, v in (case.query or {}).items() if k.lower() != "x-nonce"}
    case.headers = {
        k: v
        for k, v in (case.headers or {}).items()
        if k.lower() not in ("authorization", "x-nonce")
    }
    if auth == "bearer":
        return {"Authorization": f"Bearer {seeded.token}"}
    return {"X-Nonce": seeded.auth_nonces.get(alias or "", "PJ_not_an_actors_nonce")}


Statuses = dict[tuple[str, Auth], set[int]]


def fuzz(
    gateway: LiveGateway, operation: Any, mode: GenerationMode, auth: Auth, statuses: Statuses
) -> None:
    """Call ``operation`` with generated cases and validate each response; note the statuses."""
    seeded = gateway.seeded

    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
    )
    def call(case: Any, data: st.DataObject) -> None:
        alias = use_stored_records(case, data, seeded)
        if case.path.endswith("/messages") and alias and mode.is_positive:
            use_a_valid_message(case, data, seeded, alias)
        headers = authenticate(case, auth, seeded, alias)
        response = case.call_and_validate(
            base_url=gateway.base_url, headers=headers, checks=CHECKS, timeout=30
        )
        statuses[(operation.label, auth)].add(response.status_code)

    try:
        call()
    except Unsatisfiable:
        # Only an operation without inputs has no negative case (e.g. /healthz).
        if has_inputs(operation) or mode.is_positive:
            raise


def test_every_operation_answers_as_documented(live_gateway: LiveGateway) -> None:
    schema = schemathesis.openapi.from_url(f"{live_gateway.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 12
    statuses: Statuses = defaultdict(set)
    for operation in operations:
        auths: list[Auth] = ["bearer"]
        if operation.path.endswith(NONCE_ROUTES):
            auths.append("nonce")
        for auth in auths:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz(live_gateway, operation, mode, auth, statuses)
    unanswered = [
        f"{label} ({auth}): {sorted(codes)}"
        for (label, auth), codes in statuses.items()
        if not any(200 <= code < 300 for code in codes)
    ]
    assert not unanswered, "no 2xx reply was checked for: " + "; ".join(unanswered)
