"""Job definitions as the local execution system reads them: maxRunTime, inputs, notifications."""

from __future__ import annotations

from typing import Any

import pytest
from pipelinejobs.compute.local.definition import parse_job_definition, parse_max_run_time
from pipelinejobs.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("01:00:00", 3600),
        ("00:00:01", 1),
        ("00:10:30", 630),
        ("48:00:00", 172800),
        ("999:59:59", 3599999),
    ],
)
def test_max_run_time_is_hours_minutes_seconds(text: str, seconds: int) -> None:
    assert parse_max_run_time(text) == seconds


@pytest.mark.parametrize(
    "text",
    ["1:00", "01:60:00", "01:00:60", "1h", "", "00:00:00", "-1:00:00", "1000:00:00", 3600, None],
)
def test_other_max_run_times_are_refused_naming_the_format(text: Any) -> None:
    with pytest.raises(InvalidInput, match=r"maxRunTime .*(HH:MM:SS|is zero)"):
        parse_max_run_time(text)


def definition(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "appId": "tacobot9000-0.1.0u1",
        "name": "TACObot job",
        "inputs": {"file1": "agave://data.tacc.cloud/examples/tacobot/test1.txt"},
        "parameters": {"salsa": True},
        "maxRunTime": "01:00:00",
    }
    base.update(changes)
    return base


def test_the_documented_definition_is_read() -> None:
    request = parse_job_definition(definition())
    assert request.app_id == "tacobot9000-0.1.0u1"
    [file1] = request.inputs["file1"]
    assert (file1.system, file1.path) == ("data.tacc.cloud", "/examples/tacobot/test1.txt")
    assert request.archive is True
    assert request.notifications == ()


def test_an_input_may_list_several_files() -> None:
    request = parse_job_definition(
        definition(inputs={"files": ["agave://sys-a/x/1.txt", "agave://sys-b/y/2.txt"]})
    )
    assert [f.uri for f in request.inputs["files"]] == [
        "agave://sys-a/x/1.txt",
        "agave://sys-b/y/2.txt",
    ]


@pytest.mark.parametrize("uri", ["https://example.org/data.txt", "http://10.0.0.1/x"])
def test_http_inputs_are_refused_because_nothing_is_fetched(uri: str) -> None:
    with pytest.raises(InvalidInput, match=r"inputs\.file1 is an https? URL.*agave://"):
        parse_job_definition(definition(inputs={"file1": uri}))


@pytest.mark.parametrize(
    "uri", ["agave://data-sd2e-community/../etc/passwd", "/etc/passwd", "agave://bad system/x"]
)
def test_inputs_outside_a_storage_system_are_refused(uri: str) -> None:
    with pytest.raises(InvalidInput, match=r"inputs\.file1"):
        parse_job_definition(definition(inputs={"file1": uri}))


def test_an_archive_path_that_escapes_is_refused() -> None:
    with pytest.raises(InvalidInput, match="archivePath"):
        parse_job_definition(definition(archivePath="/products/../../etc"))


def test_notifications_are_read_with_agave_defaults() -> None:
    request = parse_job_definition(
        definition(
            notifications=[{"event": "*", "url": "http://127.0.0.1:8000/cb?status=${JOB_STATUS}"}]
        )
    )
    [notification] = request.notifications
    assert notification.persistent is False
    assert notification.matches("RUNNING")
    assert notification.matches("FINISHED")


def test_a_notification_event_matches_its_status_in_any_case() -> None:
    request = parse_job_definition(
        definition(notifications=[{"event": "finished", "url": "https://example.org/cb"}])
    )
    [notification] = request.notifications
    assert notification.matches("FINISHED")
    assert not notification.matches("FAILED")


@pytest.mark.parametrize(
    "url", ["mailto:someone@example.org", "someone@example.org", "ftp://x/y", "http://"]
)
def test_notifications_need_an_http_url(url: str) -> None:
    with pytest.raises(InvalidInput, match=r"notifications\[0\]\.url .*http:// or https://"):
        parse_job_definition(definition(notifications=[{"event": "*", "url": url}]))


def test_a_refused_notification_url_does_not_echo_its_token() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_job_definition(
            definition(notifications=[{"event": "*", "url": "ftp://h/x?token=0dc73dc3ff39b49a"}])
        )
    assert "0dc73dc3ff39b49a" not in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"appId": ""}, "appId"),
        ({"name": ""}, "name"),
        ({"parameters": [1]}, "parameters"),
        ({"archive": "yes"}, "archive"),
        ({"notifications": {"event": "*"}}, "notifications"),
        ({"maxRunTime": "1 hour"}, "maxRunTime"),
    ],
)
def test_errors_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput, match=field):
        parse_job_definition(definition(**changes))
