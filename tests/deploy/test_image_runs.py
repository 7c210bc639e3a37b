"""The image's own entry commands, run as the image would run them, without a container engine.

The gateway and one actor start from the Dockerfile's ENTRYPOINT with the arguments a manifest
gives them, as the image's non-root user (``setpriv`` to its uid: this test runs as root), with
only the environment the image (ENV lines) and the manifest give them, and with a directory
standing in for the image's data directory, created and owned as the Dockerfile's RUN lines
(compose: a named volume starts as a copy of it) or as Kubernetes' emptyDir with the pod's
fsGroup would have it. What cannot exist here is replaced, and only that: the broker host is the
test RabbitMQ (in a namespace of its own), ports are free ones, and with no MongoDB server here
the store is SQLite in the same data directory, which must then be writable as well.

Both must become ready, handle a message, and stop on SIGTERM with exit code 0 within the grace
period the manifest allows.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from deployfiles import (
    K8S,
    compose,
    compose_variables,
    dockerfile,
    kustomize_build,
    operator_variables,
    pod_containers,
    pod_spec,
    service_environment,
)

pytestmark = [
    pytest.mark.rabbitmq,
    pytest.mark.skipif(os.geteuid() != 0, reason="switching to the image's user needs root"),
]

AMQP_URL = os.environ.get("PIPELINEJOBS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
START_LIMIT = 60.0
PIPELINE = {"name": "image pipeline", "components": [{"id": "image-app-1.0"}]}
HEALTH_LOG = re.compile(r'"port": (\d+).*"event": "health server listening"')
PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass
class Launch:
    """How a manifest starts one process of the image."""

    args: list[str]
    environment: dict[str, str]


@dataclass
class Manifest:
    gateway: Launch
    actor: Launch
    uid: int
    gid: int
    groups: list[int]
    grace: float
    data_dir_owner: tuple[int, int, int] | None
    """(uid, gid, mode) of the data directory when the container starts; None: absent."""


def compose_manifest() -> Manifest:
    image = dockerfile()
    document = compose(operator_variables(compose_variables()))
    services = document["services"]

    def launch(name: str) -> Launch:
        service = services[name]
        return Launch(
            list(service.get("command") or image.cmd),
            {**image.env, **service_environment(service)},
        )

    exists, uid, gid, mode = image.path_state(image.env["PIPELINEJOBS_DATA_DIR"])
    grace = services["pipelines-manager"]["stop_grace_period"]
    return Manifest(
        gateway=launch("gateway"),
        actor=launch("pipelines-manager"),
        uid=image.uid,
        gid=image.gid,
        groups=[],
        grace=float(str(grace).removesuffix("s")),
        data_dir_owner=(uid, gid, mode) if exists else None,
    )


def kubernetes_manifest() -> Manifest:
    image = dockerfile()
    resources = kustomize_build()
    config = next(r for r in resources if r["kind"] == "ConfigMap")["data"]
    example = (K8S / "secrets.env.example").read_text().splitlines()
    secret_keys = [line.split("=")[0] for line in example if line and not line.startswith("#")]
    secret = operator_variables(set(secret_keys))
    deployments = {r["metadata"]["name"]: r for r in resources if r["kind"] == "Deployment"}

    def launch(name: str) -> Launch:
        [container] = pod_containers(deployments[name])
        environment = dict(image.env)
        for source in container.get("envFrom", []):
            environment.update(config if "configMapRef" in source else secret)
        environment.update({item["name"]: item["value"] for item in container.get("env", [])})
        return Launch(list(container.get("args") or image.cmd), environment)

    spec = pod_spec(deployments["pipelines-manager"])
    assert spec is not None
    context = spec["securityContext"]
    [mount] = [
        m
        for m in pod_containers(deployments["pipelines-manager"])[0]["volumeMounts"]
        if m["mountPath"] == image.env["PIPELINEJOBS_DATA_DIR"]
    ]
    [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    assert "emptyDir" in volume
    return Manifest(
        gateway=launch("gateway"),
        actor=launch("pipelines-manager"),
        uid=context["runAsUser"],
        gid=context["runAsGroup"],
        groups=[context["fsGroup"]],
        grace=float(spec["terminationGracePeriodSeconds"]),
        # An emptyDir is world-writable; with fsGroup the kubelet makes it group-owned, setgid.
        data_dir_owner=(0, context["fsGroup"], 0o2777),
    )


MANIFESTS: dict[str, Callable[[], Manifest]] = {
    "compose": compose_manifest,
    "kubernetes": kubernetes_manifest,
}


@contextlib.contextmanager
def stand_in_root(manifest: Manifest) -> Iterator[Path]:
    """A directory standing in for the image's data directory, under a root-owned parent as
    /var/lib is; created (or not) and owned as the manifest's container would find it."""
    top = Path(tempfile.mkdtemp(prefix="pipelinejobs-image-"))
    try:
        top.chmod(0o755)
        (top / "var" / "lib").mkdir(parents=True)
        data_dir = top / "var" / "lib" / "pipelinejobs"
        if manifest.data_dir_owner is not None:
            uid, gid, mode = manifest.data_dir_owner
            data_dir.mkdir()
            os.chown(data_dir, uid, gid)
            data_dir.chmod(mode)
        yield data_dir
    finally:
        shutil.rmtree(top, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_environment(launch: Launch, data_dir: Path, namespace: str) -> dict[str, str]:
    """The manifest's environment with only what cannot exist here replaced."""
    image_data_dir = dockerfile().env["PIPELINEJOBS_DATA_DIR"]
    environment = {
        key: value.replace(image_data_dir, str(data_dir))
        for key, value in launch.environment.items()
    }
    assert "PIPELINEJOBS_AMQP_URL" in environment, "the manifest names the broker"
    environment["PIPELINEJOBS_AMQP_URL"] = AMQP_URL
    assert "PIPELINEJOBS_MONGODB_URL" in environment, "the manifest names the store"
    del environment["PIPELINEJOBS_MONGODB_URL"]  # no MongoDB server here: SQLite stands in
    environment["PIPELINEJOBS_BUS_NAMESPACE"] = namespace
    return {"PATH": PATH, **environment}


def entry_command() -> str:
    script = Path(sys.executable).with_name(dockerfile().entrypoint[0])
    assert script.exists(), f"{script}: the console script the image's ENTRYPOINT names"
    return str(script)


def start(
    manifest: Manifest, args: list[str], environment: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    groups = ",".join(map(str, manifest.groups))
    switch = ["setpriv", f"--reuid={manifest.uid}", f"--regid={manifest.gid}"]
    switch += [f"--groups={groups}"] if groups else ["--clear-groups"]
    with log.open("wb") as out:
        return subprocess.Popen(
            [*switch, "--", entry_command(), *args],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd="/",
        )


def wait_until(
    condition: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, what: str
) -> None:
    deadline = time.monotonic() + START_LIMIT
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"{what} exited {process.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not there after {START_LIMIT} s:\n{log.read_text()}")
        time.sleep(0.1)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def stop(process: subprocess.Popen[bytes], grace: float) -> tuple[int, float]:
    """SIGTERM, as the kubelet or ``docker stop`` sends it; (exit code, seconds it took)."""
    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return -9, time.monotonic() - began
    return code, time.monotonic() - began


def delete_namespace(namespace: str) -> None:
    import asyncio

    from pipelinejobs.bus.rabbitmq import RabbitMQBus
    from pipelinejobs.domain.actors import ACTOR_ALIASES

    asyncio.run(RabbitMQBus(AMQP_URL, namespace=namespace, actors=ACTOR_ALIASES).delete_topology())


@pytest.mark.parametrize("kind", sorted(MANIFESTS))
def test_gateway_and_actor_start_as_the_image_user_handle_a_message_and_stop(
    kind: str, tmp_path: Path
) -> None:
    from pipelinejobs.cli.connection import admin_bearer_token
    from pipelinejobs.client.sync import Gateway

    manifest = MANIFESTS[kind]()
    namespace = f"deploy-image-{uuid.uuid4().hex[:12]}"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with stand_in_root(manifest) as data_dir:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            gateway_args = [*manifest.gateway.args]
            gateway_args[gateway_args.index("--port") + 1] = str(port)
            gateway_env = process_environment(manifest.gateway, data_dir, namespace)
            gateway_log = tmp_path / "gateway.log"
            gateway = start(manifest, gateway_args, gateway_env, gateway_log)
            processes.append(gateway)
            wait_until(lambda: answers(f"{url}/readyz"), gateway, gateway_log, "the gateway")

            actor_env = process_environment(manifest.actor, data_dir, namespace)
            actor_env["PIPELINEJOBS_HEALTH_PORT"] = "0"  # a free one, logged
            actor_env["PIPELINEJOBS_PUBLIC_URL"] = url
            actor_log = tmp_path / "actor.log"
            actor = start(manifest, manifest.actor.args, actor_env, actor_log)
            processes.append(actor)
            wait_until(
                lambda: bool(HEALTH_LOG.search(actor_log.read_text())),
                actor,
                actor_log,
                "the actor's health server",
            )
            health = f"http://127.0.0.1:{HEALTH_LOG.search(actor_log.read_text()).group(1)}"  # type: ignore[union-attr]
            wait_until(lambda: answers(f"{health}/readyz"), actor, actor_log, "the actor")
            assert answers(f"{health}/healthz")

            token = admin_bearer_token(gateway_env["PIPELINEJOBS_JWT_SECRET"].encode())
            with Gateway(url, token) as client:
                execution_id = client.send("pipelines-manager", PIPELINE, {})
                execution = client.wait("pipelines-manager", execution_id, 60)
            assert execution["status"] == "COMPLETE", (execution, actor_log.read_text())

            codes = [stop(process, manifest.grace) for process in (actor, gateway)]
            assert [code for code, _ in codes] == [0, 0], (
                gateway_log.read_text() + actor_log.read_text()
            )
            assert all(took < manifest.grace for _, took in codes)
            assert not (data_dir / "secrets.json").exists(), "every secret came from the manifest"
            written = [p for p in data_dir.rglob("*")]
            assert written
            assert all(p.stat().st_uid == manifest.uid for p in written)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        delete_namespace(namespace)
