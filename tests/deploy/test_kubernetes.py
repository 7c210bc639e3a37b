"""deploy/k8s, assembled as ``kustomize build`` would, validated against the Kubernetes schemas
(kubernetes-validate, offline, strict), and checked against the image and the code: the
containers run CLI commands with settings that exist, non-root on a read-only root filesystem
with a writable data directory, probed on ports and paths their process serves, and the
kustomization never carries a Secret."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from deployfiles import (
    K8S,
    PROJECT_VERSION,
    check_command,
    dockerfile,
    kustomize_build,
    pod_containers,
    pod_spec,
    served,
    setting_names,
)
from pipelinejobs.domain.actors import ACTOR_ALIASES

KUBERNETES_VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]
SECRET_NAME = "pipelinejobs"


@pytest.fixture(scope="module")
def resources() -> list[dict[str, Any]]:
    return kustomize_build()


def by_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def secret_example() -> dict[str, str]:
    lines = (K8S / "secrets.env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_assembled_manifest_is_valid(resources: list[dict[str, Any]], version: str) -> None:
    assert resources
    for resource in resources:
        kubernetes_validate.validate(resource, version, strict=True)


def test_the_kustomization_carries_no_secret(resources: list[dict[str, Any]]) -> None:
    assert not by_kind(resources, "Secret"), "applying it would replace the real Secret"
    assert not list(K8S.glob("secret.yaml"))


def test_the_gateway_and_each_actor_run_as_deployments(resources: list[dict[str, Any]]) -> None:
    deployments = by_kind(resources, "Deployment")
    assert set(deployments) == {"gateway", *ACTOR_ALIASES}
    assert all(d["metadata"]["namespace"] == "pipelinejobs" for d in deployments.values())


def environment_of(resources: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    """What the process sees: the image's ENV, then the ConfigMap and Secret (envFrom), then
    the container's own env. The Secret's keys stand in with the example file's names."""
    environment = dict(dockerfile().env)
    config_maps = by_kind(resources, "ConfigMap")
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            environment.update(config_maps[source["configMapRef"]["name"]]["data"])
        if "secretRef" in source:
            assert source["secretRef"]["name"] == SECRET_NAME
            environment.update(dict.fromkeys(secret_example(), "<secret>"))
    environment.update({item["name"]: item["value"] for item in container.get("env", [])})
    return environment


def containers(resources: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, container)
        for name, deployment in by_kind(resources, "Deployment").items()
        for container in pod_containers(deployment)
    ]


def test_every_container_runs_a_command_of_the_cli(resources: list[dict[str, Any]]) -> None:
    for name, container in containers(resources):
        assert "command" not in container, "the image's entrypoint is the CLI"
        check_command(container["args"])
        if name in ACTOR_ALIASES:
            assert container["args"] == ["actor", name]


def test_every_setting_is_one_the_settings_read(resources: list[dict[str, Any]]) -> None:
    known = setting_names()
    assert set(secret_example()) <= known
    for name, container in containers(resources):
        named = set(environment_of(resources, container)) - set(dockerfile().env)
        assert named - known == set(), f"{name} sets settings no class reads"


def test_the_secret_holds_what_the_processes_need() -> None:
    assert {
        "PIPELINEJOBS_AMQP_URL",
        "PIPELINEJOBS_MONGODB_URL",
        "PIPELINEJOBS_TOKEN_KEYS",
        "PIPELINEJOBS_ADMIN_KEY",
        "PIPELINEJOBS_JWT_SECRET",
    } <= set(secret_example())
    assert set(secret_example().values()) == {""}, "the example holds names, no values"


def port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    [number] = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    return int(number)


def test_every_probe_asks_a_port_and_path_the_process_serves(
    resources: list[dict[str, Any]],
) -> None:
    for name, container in containers(resources):
        listening = served(container["args"], environment_of(resources, container))
        assert "readinessProbe" in container, name
        assert "livenessProbe" in container, name
        paths = {}
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            if kind in container:
                probe = container[kind]["httpGet"]
                port = port_number(container, probe["port"])
                assert port in listening, f"{name} {kind} asks port {port}; it serves {listening}"
                assert probe["path"] in listening[port], f"{name} {kind} asks {probe['path']}"
                paths[kind] = probe["path"]
        assert paths["readinessProbe"] == "/readyz"
        assert paths["livenessProbe"] == "/healthz"


def test_the_service_reaches_the_gateways_port(resources: list[dict[str, Any]]) -> None:
    service = by_kind(resources, "Service")["gateway"]
    [gateway] = pod_containers(by_kind(resources, "Deployment")["gateway"])
    [port] = service["spec"]["ports"]
    listening = served(gateway["args"], environment_of(resources, gateway))
    assert port_number(gateway, port["targetPort"]) in listening
    public_url = by_kind(resources, "ConfigMap")["pipelinejobs"]["data"]["PIPELINEJOBS_PUBLIC_URL"]
    assert public_url == f"http://{service['metadata']['name']}"
    assert port["port"] == 80


def test_pods_run_non_root_with_a_read_only_root_and_a_writable_data_directory(
    resources: list[dict[str, Any]],
) -> None:
    image = dockerfile()
    for name, deployment in by_kind(resources, "Deployment").items():
        spec = pod_spec(deployment)
        assert spec is not None
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True
        assert (context["runAsUser"], context["runAsGroup"]) == (image.uid, image.gid)
        assert context["fsGroup"] == image.gid, "volumes writable by the image's group"
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in pod_containers(deployment):
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            data_dir = environment_of(resources, container)["PIPELINEJOBS_DATA_DIR"]
            for path in (data_dir, "/tmp"):
                assert path in mounts, f"{name}: {path} is read-only (no volume there)"
                assert not mounts[path].get("readOnly", False)
                assert mounts[path]["name"] in volumes
            storage = f"{data_dir}/storage"
            if name in ("jobs-manager", "jobs-indexer", "agave-proxy"):
                claim = volumes[mounts[storage]["name"]]["persistentVolumeClaim"]["claimName"]
                assert claim in by_kind(resources, "PersistentVolumeClaim")


def test_every_pod_has_a_grace_period_for_its_work_in_flight(
    resources: list[dict[str, Any]],
) -> None:
    for name, deployment in by_kind(resources, "Deployment").items():
        spec = pod_spec(deployment)
        assert spec is not None
        assert spec["terminationGracePeriodSeconds"] >= 30, name


def test_every_image_is_pinned_to_the_release(resources: list[dict[str, Any]]) -> None:
    for name, container in containers(resources):
        assert container["image"] == f"pipelinejobs:{PROJECT_VERSION}", name
