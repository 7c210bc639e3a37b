"""Reading the deployment files as a container engine or a cluster would, without either.

- :func:`dockerfile` parses ``deploy/Dockerfile``: the final stage's ``ENV``, ``USER``,
  ``ENTRYPOINT``/``CMD``, and how its ``RUN`` lines create, own and mode the data directory.
- :func:`compose` loads ``deploy/compose.yaml`` with compose's ``${VAR}`` interpolation (``:-``,
  ``-``, ``:?``, ``?`` forms; ``$$`` is a literal ``$``) and its ``<<`` merge keys.
- :func:`kustomize_build` assembles ``deploy/k8s`` the way ``kustomize build`` does for the
  features that kustomization uses (``resources``, ``namespace``, ``labels``, ``images``); any
  other feature is refused, so the check cannot silently skip one.
- :func:`setting_names` and :func:`cli_command` say what the code accepts: the ``PIPELINEJOBS_*``
  variables of its settings classes, and the CLI's commands with their options.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import typer
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
K8S = DEPLOY / "k8s"
ENTRY = "pipelinejobs"
PROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def operator_variables(names: set[str]) -> dict[str, str]:
    """Values for the variables ``names``, as an operator's ``.env`` would give them: a random
    key each (the token keys as their JSON list), and the project's version as the image tag."""
    values = {name: secrets.token_hex(32) for name in names}
    values["PIPELINEJOBS_TOKEN_KEYS"] = json.dumps([secrets.token_hex(32)])
    values["PIPELINEJOBS_VERSION"] = PROJECT_VERSION
    return values


# -- Dockerfile ---------------------------------------------------------------------------------


@dataclass
class Image:
    """What the final stage of the Dockerfile gives a container."""

    env: dict[str, str] = field(default_factory=dict)
    user: str = "root"
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    run: list[str] = field(default_factory=list)
    base: str = ""

    @property
    def uid(self) -> int:
        return self._number(self.user.split(":")[0], "--uid")

    @property
    def gid(self) -> int:
        parts = self.user.split(":")
        return self._number(parts[1], "--gid") if len(parts) > 1 else self.uid

    def _number(self, name: str, option: str) -> int:
        """A user or group by number, or by the name a ``useradd``/``groupadd`` line gave it."""
        if name == "root":
            return 0
        if name.isdigit():
            return int(name)
        for line in self.run:
            found = re.search(rf"{option}[= ](\d+)\b[^&;]*\s{re.escape(name)}\b", line)
            if found:
                return int(found.group(1))
        raise LookupError(f"the Dockerfile never creates {name!r} with {option}")

    def path_state(self, path: str) -> tuple[bool, int, int, int]:
        """(exists, uid, gid, mode) of ``path`` after the RUN lines, as far as they say: made by
        ``mkdir -p`` (or as the parent of such a directory), ``chown [-R] U:G`` and ``chmod``."""
        exists, uid, gid, mode = False, 0, 0, 0o755
        target = PurePosixPath(path)
        for line in self.run:
            for command in re.split(r"&&|;|\|\|", line):
                words = shlex.split(command.replace("\\\n", " "))
                if not words:
                    continue
                paths = [PurePosixPath(w) for w in words[1:] if w.startswith("/")]
                if words[0] == "mkdir" and any(p == target or target in p.parents for p in paths):
                    exists = True
                elif words[0] == "chown" and exists:
                    owner = next(w for w in words[1:] if not w.startswith("-"))
                    if any(p == target or (target in p.parents and "-R" in words) for p in paths):
                        user, _, group = owner.partition(":")
                        uid, gid = int(user), int(group or user)
                elif words[0] == "chmod" and exists and target in paths:
                    mode = int(next(w for w in words[1:] if not w.startswith("-")), 8)
        return exists, uid, gid, mode


def dockerfile(path: Path = DOCKERFILE) -> Image:
    """The final stage of ``path`` (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    image = Image()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            image = Image(base=rest.split()[0])
        elif instruction == "ENV":
            image.env.update(_env_pairs(rest))
        elif instruction == "USER":
            image.user = rest.strip()
        elif instruction == "RUN":
            image.run.append(rest)
        elif instruction == "ENTRYPOINT":
            image.entrypoint = json.loads(rest)
        elif instruction == "CMD":
            image.cmd = json.loads(rest)
    return image


def _env_pairs(text: str) -> dict[str, str]:
    words = shlex.split(text)
    if len(words) == 2 and "=" not in words[0]:
        return {words[0]: words[1]}  # the legacy form: ENV NAME value
    return dict(word.split("=", 1) for word in words)


# -- compose ------------------------------------------------------------------------------------

_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)


class MissingVariable(LookupError):
    """A ``${VAR:?message}`` reference without a value: compose refuses to start."""


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """Compose's variable substitution in one string."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        value = variables.get(name)
        empty = value is None or (value == "" and op is not None and op.startswith(":"))
        if op in (":?", "?") and empty:
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and empty:
            return arg
        return value or ""

    return _VARIABLE.sub(replace, text)


def _interpolate_tree(node: Any, variables: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, list):
        return [_interpolate_tree(item, variables) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, variables) for key, value in node.items()}
    return node


def compose(variables: Mapping[str, str], path: Path = COMPOSE) -> dict[str, Any]:
    """The compose file as ``docker compose config`` would see it with ``variables`` (PyYAML
    resolves the ``<<`` merge keys and anchors)."""
    return dict(_interpolate_tree(yaml.safe_load(path.read_text()), variables))


def compose_variables(path: Path = COMPOSE) -> set[str]:
    """Every ``${VAR}`` the compose file references."""
    return {m.group("name") for m in _VARIABLE.finditer(path.read_text()) if m.group("name")}


def service_environment(service: Mapping[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {str(k): str(v) for k, v in environment.items()}


def pipelinejobs_services(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run this project's image."""
    return {
        name: service
        for name, service in document["services"].items()
        if str(service.get("image", "")).split(":")[0] == ENTRY
    }


# -- kustomize ----------------------------------------------------------------------------------

SUPPORTED_KUSTOMIZATION = {"apiVersion", "kind", "namespace", "resources", "labels", "images"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume"}


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def kustomize_build(directory: Path = K8S) -> list[dict[str, Any]]:
    """The resources ``kustomize build directory`` prints, for the features used here."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - SUPPORTED_KUSTOMIZATION
    if unsupported:
        raise NotImplementedError(f"kustomization features not assembled here: {unsupported}")
    resources: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        resources += kustomize_build(path) if path.is_dir() else yaml_documents(path)
    namespace = kustomization.get("namespace")
    for resource in resources:
        metadata = resource.setdefault("metadata", {})
        if namespace and resource["kind"] not in CLUSTER_SCOPED:
            metadata["namespace"] = namespace
        for label in kustomization.get("labels", []):
            _add_labels(resource, label)
        for image in kustomization.get("images", []):
            _set_image(resource, image)
    return resources


def _add_labels(resource: dict[str, Any], label: Mapping[str, Any]) -> None:
    pairs = dict(label["pairs"])
    resource["metadata"].setdefault("labels", {}).update(pairs)
    spec = resource.get("spec", {})
    if label.get("includeTemplates") and "template" in spec:
        spec["template"].setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
    if label.get("includeSelectors"):
        raise NotImplementedError("labels with includeSelectors are not assembled here")


def _set_image(resource: dict[str, Any], image: Mapping[str, str]) -> None:
    for container in pod_containers(resource):
        name = container["image"].split("@")[0].rsplit(":", 1)[0]
        if name == image["name"]:
            new_name = image.get("newName", name)
            if "digest" in image:
                container["image"] = f"{new_name}@{image['digest']}"
            else:
                container["image"] = f"{new_name}:{image['newTag']}"


def pod_spec(resource: Mapping[str, Any]) -> dict[str, Any] | None:
    template = resource.get("spec", {}).get("template")
    return None if template is None else dict(template["spec"])


def pod_containers(resource: Mapping[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(resource)
    if spec is None:
        return []
    return list(spec.get("initContainers", [])) + list(spec["containers"])


# -- what the code accepts ----------------------------------------------------------------------


def setting_names() -> set[str]:
    """The environment variables the settings classes read."""
    from pipelinejobs.compute.factory import ComputeSettings
    from pipelinejobs.gateway.config import GatewaySettings
    from pipelinejobs.settings import Settings

    names: set[str] = set()
    for model in (Settings, ComputeSettings, GatewaySettings):
        prefix = model.model_config.get("env_prefix", "")
        names |= {f"{prefix}{name}".upper() for name in model.model_fields}
    return names


def cli_command(args: list[str]) -> tuple[Any, list[str]]:
    """The (click) command that ``pipelinejobs args...`` runs, and the arguments left for it."""
    from pipelinejobs.cli.main import app

    command: Any = typer.main.get_command(app)
    rest = list(args)
    while hasattr(command, "commands") and rest and rest[0] in command.commands:
        command = command.commands[rest.pop(0)]
    return command, rest


def option_value(args: list[str], option: str) -> str | None:
    """The value given to ``option`` in ``args`` (``--port 8000`` or ``--port=8000``)."""
    for index, word in enumerate(args):
        if word == option and index + 1 < len(args):
            return args[index + 1]
        if word.startswith(f"{option}="):
            return word.split("=", 1)[1]
    return None


def served(args: list[str], environment: Mapping[str, str]) -> dict[int, set[str]]:
    """The ports ``pipelinejobs args...`` listens on, with the HTTP paths each answers, given the
    container's ``environment`` (the image's ENV and the manifest's, as the process sees them)."""
    from typing import cast

    from pipelinejobs.gateway.routes_health import router
    from pipelinejobs.host.health import Heartbeat, health_app

    command, rest = cli_command(args)
    if command.name == "gateway":
        port = option_value(rest, "--port") or environment.get("PIPELINEJOBS_PORT", "8000")
        return {int(port): {route.path for route in router.routes}}  # type: ignore[attr-defined]
    if command.name == "actor" and "PIPELINEJOBS_HEALTH_PORT" in environment:
        app = health_app(cast(Any, None), [], Heartbeat())
        paths = {route.path for route in app.routes}  # type: ignore[attr-defined]
        return {int(environment["PIPELINEJOBS_HEALTH_PORT"]): paths}
    return {}


def check_command(args: list[str]) -> None:
    """AssertionError unless ``pipelinejobs args...`` parses: the command exists, every option is
    one of its options, and the arguments are accepted (the actor names, for ``actor``)."""
    from pipelinejobs.domain.actors import ACTOR_ALIASES

    command, rest = cli_command(args)
    assert not hasattr(command, "commands"), f"{args}: {rest[:1]} is not a command"
    context = command.make_context(ENTRY, list(rest), resilient_parsing=False)
    if command.name == "actor":
        assert context.params["name"] in ACTOR_ALIASES, f"{args}: no such actor"
