"""Agave v2 job definitions as the local execution system reads them.

Checks the shape of a definition before anything runs, with errors that name the field:
``maxRunTime`` is ``HH:MM:SS``; inputs are ``agave://<system>/<path>`` URIs (one or a list per
input name; ``http(s)`` inputs are refused because this system makes no outbound requests for
data); notifications go to ``http(s)`` URLs. Whether the app knows the inputs and accepts the
parameters is the registry's business (:mod:`pipelinejobs.compute.local.registry`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from pipelinejobs.domain.agave_uri import parse_agave_uri, require_system_name
from pipelinejobs.domain.archive import normalize_archive_path
from pipelinejobs.errors import InvalidInput
from pipelinejobs.logs import scrub

DEFAULT_MAX_RUN_TIME = "01:00:00"
MAX_NOTIFICATIONS = 32
_MAX_RUN_TIME = re.compile(r"(\d{1,3}):([0-5]\d):([0-5]\d)")
_EVENT = re.compile(r"\*|[A-Za-z_]{1,64}")


@dataclass(frozen=True)
class Notification:
    """One ``{event, url, persistent}`` entry: where to POST the job on matching statuses."""

    event: str
    url: str
    persistent: bool = False

    def matches(self, status: str) -> bool:
        return self.event == "*" or self.event.upper() == status


@dataclass(frozen=True)
class InputFile:
    """One input file: its URI as given and the storage system and path it names."""

    uri: str
    system: str
    path: str


@dataclass(frozen=True)
class JobRequest:
    """A checked job definition; ``definition`` keeps every field as sent (echoed back)."""

    definition: Mapping[str, Any]
    app_id: str
    name: str
    inputs: Mapping[str, tuple[InputFile, ...]]
    parameters: Mapping[str, Any]
    max_run_time: str | None
    archive: bool
    archive_system: str | None
    archive_path: str | None
    notifications: tuple[Notification, ...]


def parse_max_run_time(value: object, field: str = "maxRunTime") -> int:
    """Seconds in an ``HH:MM:SS`` run time (hours up to 999); more than zero."""
    match = _MAX_RUN_TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        shown = value if not isinstance(value, str) else value[:40]
        raise InvalidInput(
            f"{field} {shown!r} is not accepted; expected HH:MM:SS such as {DEFAULT_MAX_RUN_TIME}"
        )
    hours, minutes, seconds = (int(part) for part in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total == 0:
        raise InvalidInput(f"{field} {value!r} is zero; give a run time such as 00:10:00")
    return total


def parse_job_definition(definition: Mapping[str, Any]) -> JobRequest:
    """Check an Agave v2 job definition's shape; ``InvalidInput`` names the field."""
    if not isinstance(definition, Mapping):
        raise InvalidInput("a job definition must be a JSON object with appId, name, inputs...")
    app_id = definition.get("appId")
    if not isinstance(app_id, str) or not app_id:
        raise InvalidInput("appId is required: the id of the app to run, e.g. wordcount-0.1.0")
    name = definition.get("name", f"{app_id} job")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("name must be a non-empty string naming the job, e.g. 'TACObot job'")
    max_run_time = definition.get("maxRunTime")
    if max_run_time is not None:
        parse_max_run_time(max_run_time)
    archive = definition.get("archive", True)
    if not isinstance(archive, bool):
        raise InvalidInput(f"archive must be true or false, got {archive!r}")
    return JobRequest(
        definition=MappingProxyType(dict(definition)),
        app_id=app_id,
        name=name,
        inputs=MappingProxyType(_inputs(definition.get("inputs"))),
        parameters=MappingProxyType(_parameters(definition.get("parameters"))),
        max_run_time=max_run_time,
        archive=archive,
        archive_system=_archive_system(definition.get("archiveSystem")),
        archive_path=_archive_path(definition.get("archivePath")),
        notifications=_notifications(definition.get("notifications")),
    )


def _parameters(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"parameters must be a JSON object, got a {type(value).__name__}")
    return dict(value)


def _inputs(value: Any) -> dict[str, tuple[InputFile, ...]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(
            "inputs must be a JSON object of input name to agave:// URI (or a list of them)"
        )
    inputs: dict[str, tuple[InputFile, ...]] = {}
    for name, given in value.items():
        uris = given if isinstance(given, list) else [given]
        inputs[str(name)] = tuple(
            _input_file(uri, f"inputs.{name}" + (f"[{i}]" if isinstance(given, list) else ""))
            for i, uri in enumerate(uris)
        )
    return inputs


def _input_file(uri: Any, field: str) -> InputFile:
    if not isinstance(uri, str):
        raise InvalidInput(f"{field} must be an agave:// URI string, got a {type(uri).__name__}")
    scheme = urlsplit(uri).scheme.lower() if "://" in uri else ""
    if scheme in ("http", "https"):
        raise InvalidInput(
            f"{field} is an {scheme} URL; the local execution system does not fetch inputs "
            "over the network: put the file on a storage system and give "
            "agave://<system>/<path>"
        )
    try:
        system, path = parse_agave_uri(uri)
    except InvalidInput as exc:
        raise InvalidInput(f"{field}: {exc}") from None
    if path == "/":
        raise InvalidInput(f"{field} {uri!r} names a storage system's root; give a file path")
    return InputFile(uri=uri, system=system, path=path)


def _archive_system(value: Any) -> str | None:
    if value is None or value == "":
        return None
    try:
        return require_system_name(value)
    except InvalidInput as exc:
        raise InvalidInput(f"archiveSystem: {exc}") from None


def _archive_path(value: Any) -> str | None:
    if value is None or value == "":
        return None
    try:
        return normalize_archive_path(value)
    except InvalidInput as exc:
        raise InvalidInput(f"archivePath: {exc}") from None


def _notifications(value: Any) -> tuple[Notification, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidInput("notifications must be a list of {event, url, persistent} objects")
    if len(value) > MAX_NOTIFICATIONS:
        raise InvalidInput(
            f"notifications has {len(value)} entries; at most {MAX_NOTIFICATIONS} are accepted"
        )
    return tuple(_notification(item, index) for index, item in enumerate(value))


def _notification(item: Any, index: int) -> Notification:
    field = f"notifications[{index}]"
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{field} must be an object with event, url and persistent")
    event = item.get("event")
    if not isinstance(event, str) or _EVENT.fullmatch(event) is None:
        raise InvalidInput(
            f"{field}.event {event!r} is not accepted; expected a job status such as "
            "FINISHED, or * for every status"
        )
    url = item.get("url")
    if not isinstance(url, str) or not _is_http_url(url):
        shown = scrub(url)[:200] if isinstance(url, str) else url
        raise InvalidInput(
            f"{field}.url {shown!r} is not accepted; the local execution system delivers "
            "notifications by HTTP POST only, so give an http:// or https:// URL"
        )
    persistent = item.get("persistent", False)
    if not isinstance(persistent, bool):
        raise InvalidInput(f"{field}.persistent must be true or false, got {persistent!r}")
    return Notification(event=event, url=url, persistent=persistent)


def _is_http_url(url: str) -> bool:
    if any(character.isspace() or ord(character) < 32 for character in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
