"""deploy/compose.yaml, read as ``docker compose config`` would: every command, setting, port,
volume and probe it names exists in the CLI and the settings, secrets are referenced (never
written), callbacks reach the gateway by its service name, MongoDB is a named replica set with
auth, and every image is pinned by tag."""

from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from deployfiles import (
    COMPOSE,
    DEPLOY,
    PROJECT_VERSION,
    MissingVariable,
    check_command,
    compose,
    compose_variables,
    dockerfile,
    operator_variables,
    pipelinejobs_services,
    served,
    service_environment,
    setting_names,
)
from pipelinejobs.bus._topology import Topology
from pipelinejobs.domain.actors import ACTOR_ALIASES
from pipelinejobs.settings import Settings

SECRET_SETTINGS = ("PIPELINEJOBS_TOKEN_KEYS", "PIPELINEJOBS_ADMIN_KEY", "PIPELINEJOBS_JWT_SECRET")
URL_SETTINGS = ("PIPELINEJOBS_AMQP_URL", "PIPELINEJOBS_MONGODB_URL")


@pytest.fixture(scope="module")
def variables() -> dict[str, str]:
    return operator_variables(compose_variables())


@pytest.fixture(scope="module")
def document(variables: dict[str, str]) -> dict[str, Any]:
    return compose(variables)


@pytest.fixture(scope="module")
def services(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = pipelinejobs_services(document)
    assert {"gateway", *ACTOR_ALIASES} <= set(found), "a gateway and the four actors"
    return found


def container_environment(service: dict[str, Any]) -> dict[str, str]:
    """What the process sees: the image's ENV, then the service's environment over it."""
    return {**dockerfile().env, **service_environment(service)}


def arguments(service: dict[str, Any]) -> list[str]:
    image = dockerfile()
    assert service.get("entrypoint") is None, "the image's entrypoint is the CLI"
    return list(service.get("command") or image.cmd)


def test_every_command_is_a_command_of_the_cli(services: dict[str, dict[str, Any]]) -> None:
    assert dockerfile().entrypoint == ["pipelinejobs"]
    for name, service in services.items():
        check_command(arguments(service))
        if name in ACTOR_ALIASES:
            assert arguments(service) == ["actor", name]


def test_every_setting_is_one_the_settings_read(services: dict[str, dict[str, Any]]) -> None:
    known = setting_names()
    for name, service in services.items():
        unknown = set(service_environment(service)) - known
        assert not unknown, f"{name} sets {unknown}, which no settings class reads"


def test_the_env_example_names_exactly_the_variables_compose_needs() -> None:
    lines = (DEPLOY / ".env.example").read_text().splitlines()
    example = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert set(example) == compose_variables()
    assert [value for name, value in example.items() if name != "PIPELINEJOBS_VERSION"] == [""] * (
        len(example) - 1
    ), "the example holds no value, only names"


@pytest.mark.parametrize("missing", sorted(compose_variables() - {"PIPELINEJOBS_VERSION"}))
def test_compose_refuses_to_start_without_each_secret(missing: str) -> None:
    variables = operator_variables(compose_variables())
    del variables[missing]
    with pytest.raises(MissingVariable, match=missing):
        compose(variables)


def test_secrets_come_from_the_variables_not_from_the_file(
    services: dict[str, dict[str, Any]],
) -> None:
    """Rendered with two different .env files, every secret differs: none is written here."""
    first = compose(operator_variables(compose_variables()))
    second = compose(operator_variables(compose_variables()))
    for name in services:
        one = service_environment(first["services"][name])
        two = service_environment(second["services"][name])
        for setting in SECRET_SETTINGS:
            assert one[setting] != two[setting], f"{name}: {setting} is inlined"
        for setting in URL_SETTINGS:
            assert urlsplit(one[setting]).password != urlsplit(two[setting]).password, setting
    assert compose(operator_variables(compose_variables()))["services"]["rabbitmq"]


def test_the_settings_validate_as_the_processes_will(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelinejobs.compute.factory import ComputeSettings
    from pipelinejobs.gateway.config import GatewaySettings
    from pipelinejobs.secrets import check_configured_secrets

    for service in services.values():
        with monkeypatch.context() as patch:
            for key in [k for k in os.environ if k.startswith("PIPELINEJOBS_")]:
                patch.delenv(key)
            for key, value in container_environment(service).items():
                patch.setenv(key, value)
            settings = Settings()
            ComputeSettings()
            GatewaySettings()
        check_configured_secrets(settings)
        assert settings.token_keys
        assert settings.admin_key
        assert settings.jwt_secret
        assert settings.mongodb_url is not None
        assert settings.amqp_url is not None


def test_every_published_port_is_one_the_command_listens_on(
    services: dict[str, dict[str, Any]],
) -> None:
    published = 0
    for name, service in services.items():
        listening = served(arguments(service), container_environment(service))
        for mapping in service.get("ports", []):
            container_port = int(str(mapping).split(":")[-1].split("/")[0])
            assert container_port in listening, (
                f"{name} publishes {mapping}; it listens on {listening}"
            )
            published += 1
    assert published, "the gateway is published"


def health_url(service: dict[str, Any]) -> str:
    test = " ".join(service["healthcheck"]["test"])
    found = re.search(r"https?://[^'\" ]+", test)
    assert found, f"no URL in the health check {test}"
    return found.group(0)


def test_every_health_check_probes_a_port_and_path_the_process_serves(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        url = urlsplit(health_url(service))
        listening = served(arguments(service), container_environment(service))
        assert url.port in listening, f"{name} probes port {url.port}; it listens on {listening}"
        assert url.path in listening[url.port], f"{name} probes {url.path}"
        assert url.path == "/readyz"


def test_the_data_directory_is_a_volume_and_the_rest_read_only(
    document: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    for name, service in services.items():
        data_dir = container_environment(service)["PIPELINEJOBS_DATA_DIR"]
        targets = {}
        for volume in service["volumes"]:
            source, target = str(volume).split(":")[:2]
            targets[target] = source
        assert data_dir in targets, f"{name} keeps no volume at its data directory {data_dir}"
        assert targets[data_dir] in document["volumes"], "a named volume, declared"
        assert service["read_only"] is True
        assert "/tmp" in service["tmpfs"]


def test_callbacks_go_to_the_gateway_by_its_service_name(
    document: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    public = urlsplit(service_environment(services["agave-proxy"])["PIPELINEJOBS_PUBLIC_URL"])
    assert public.hostname == "gateway"
    gateway = document["services"]["gateway"]
    assert public.port in served(arguments(gateway), container_environment(gateway))


def test_the_broker_and_store_urls_name_their_services(
    document: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    environment = service_environment(services["gateway"])
    amqp = urlsplit(environment["PIPELINEJOBS_AMQP_URL"])
    mongodb = urlsplit(environment["PIPELINEJOBS_MONGODB_URL"])
    assert amqp.hostname in document["services"]
    assert mongodb.hostname in document["services"]
    assert parse_qs(mongodb.query)["replicaSet"] == ["rs0"]
    assert parse_qs(mongodb.query)["authSource"] == ["admin"]
    assert (
        mongodb.username
        == document["services"]["mongodb"]["environment"]["MONGO_INITDB_ROOT_USERNAME"]
    )


def test_mongodb_is_a_named_single_member_replica_set_with_auth(document: dict[str, Any]) -> None:
    mongodb = document["services"]["mongodb"]
    start = " ".join(mongodb["entrypoint"])
    assert "--replSet rs0" in start
    assert "--keyFile" in start
    assert mongodb["environment"]["MONGO_INITDB_ROOT_PASSWORD"]
    check = " ".join(mongodb["healthcheck"]["test"])
    assert "rs.initiate()" not in check, "a bare initiate names the member after the container id"
    assert "rs.initiate({_id: 'rs0', members: [{_id: 0, host: 'mongodb:27017'}]})" in check
    assert "--password" in check
    assert "$MONGO_INITDB_ROOT_PASSWORD" in check


def test_rabbitmq_gets_the_user_its_permissions_and_quorum_policy(document: dict[str, Any]) -> None:
    rabbitmq = document["services"]["rabbitmq"]
    mounts = dict(str(v).split(":")[:2][::-1] for v in rabbitmq["volumes"])
    template = (COMPOSE.parent / mounts["/etc/rabbitmq/definitions.template.json"]).resolve()
    definitions = json.loads(template.read_text())
    start = " ".join(rabbitmq["entrypoint"])
    assert "@RABBITMQ_PASSWORD@" in start
    assert "/tmp/definitions.json" in start
    assert "load_definitions" in rabbitmq["environment"]["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"]
    [user] = definitions["users"]
    assert user["password"] == "@RABBITMQ_PASSWORD@", "rendered from .env at start"
    amqp = urlsplit(
        service_environment(pipelinejobs_services(document)["gateway"])["PIPELINEJOBS_AMQP_URL"]
    )
    assert amqp.username == user["name"]
    topology = Topology(
        namespace=Settings().bus_namespace, partitions=8, actors=tuple(ACTOR_ALIASES)
    )
    [permission] = definitions["permissions"]
    [policy] = definitions["policies"]
    for queue in topology.all_queues():
        for right in ("configure", "write", "read"):
            assert re.match(permission[right], queue), (right, queue)
        assert re.match(policy["pattern"], queue)
    assert policy["apply-to"] == "quorum_queues"


def test_every_image_is_pinned_by_tag(document: dict[str, Any]) -> None:
    for name, service in document["services"].items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository, f"{name}: {image} names no tag"
        assert tag not in ("", "latest"), f"{name}: {image} is not pinned"
    for service in pipelinejobs_services(document).values():
        assert service["image"] == f"pipelinejobs:{PROJECT_VERSION}"
        assert service["pull_policy"] == "never"


def test_every_process_gets_a_grace_period_for_its_work_in_flight(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        grace = str(service.get("stop_grace_period", "10s"))  # compose's default is 10 s
        assert grace.endswith("s"), grace
        assert float(grace.removesuffix("s")) >= 30, f"{name} is killed {grace} after SIGTERM"
