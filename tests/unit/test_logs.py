"""Process logs: every line JSON and redacted, our own and those of the libraries we use."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest
import structlog
from pipelinejobs.logs import ExecutionLog, configure_logging, process_logger


@pytest.fixture
def configured() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging("INFO", json_lines=True)
    try:
        yield
    finally:
        root.handlers, root.level = handlers, level
        structlog.reset_defaults()


def lines(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


@pytest.mark.usefixtures("configured")
def test_a_library_warning_is_a_redacted_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    logging.getLogger("uvicorn.error").warning(
        "POST /actors/v2/jobs-manager/messages?x-nonce=SD2E_g60vQOz1xkN&token=0dc73dc3ff39b49a "
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig from amqp://guest:s3cret@mq:5672/"
    )

    [line] = lines(capsys.readouterr().err)
    assert line["logger"] == "uvicorn.error"
    assert line["level"] == "warning"
    text = str(line["event"])
    for secret in ("SD2E_g60vQOz1xkN", "0dc73dc3ff39b49a", "eyJhbGciOiJIUzI1NiJ9", "s3cret"):
        assert secret not in text
    assert text.count("[REDACTED]") == 4


@pytest.mark.usefixtures("configured")
def test_driver_debug_chatter_stays_out_and_our_lines_stay_in(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logging.getLogger("aiormq.connection").info("frame received: nonce record ...")
    process_logger(component="test").info("bus started", token="0dc73dc3ff39b49a")

    [line] = lines(capsys.readouterr().err)
    assert line["event"] == "bus started"
    assert line["token"] == "[REDACTED]"


@pytest.mark.usefixtures("configured")
def test_configuring_twice_does_not_double_the_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json_lines=True)
    logging.getLogger("pymongo").error("server selection timed out")

    assert len(lines(capsys.readouterr().err)) == 1


def test_a_logger_made_before_logging_is_configured_still_redacts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Modules make their loggers at import, before the process configures its logs."""
    made_at_import = process_logger(component="bus")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging("INFO", json_lines=True)
    try:
        made_at_import.info("bus started", token="0dc73dc3ff39b49a")
    finally:
        root.handlers, root.level = handlers, level
        structlog.reset_defaults()

    [line] = lines(capsys.readouterr().err)
    assert (line["component"], line["token"]) == ("bus", "[REDACTED]")


def test_an_execution_line_and_its_process_twin_share_one_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The sender reads the full line, the operator the redacted one, stamped alike."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging("INFO", json_lines=True)
    try:
        log = ExecutionLog("E1", "pipelines-manager")
        log.info("Created pipeline {uuid} with update token {token}", uuid="106a", token="0df4")
    finally:
        root.handlers, root.level = handlers, level
        structlog.reset_defaults()

    [execution_line] = log.take()
    [line] = lines(capsys.readouterr().err)
    stamp = str(line["timestamp"])
    assert execution_line == f"{stamp} E1 INFO Created pipeline 106a with update token 0df4"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
    assert (line["event"], line["execution_id"], line["actor"]) == (
        "Created pipeline 106a with update token [REDACTED]",
        "E1",
        "pipelines-manager",
    )


@pytest.mark.parametrize(("level", "in_process_log"), [("INFO", False), ("DEBUG", True)])
def test_a_debug_line_reaches_the_process_log_only_at_debug(
    capsys: pytest.CaptureFixture[str], level: str, in_process_log: bool
) -> None:
    root = logging.getLogger()
    handlers, root_level = list(root.handlers), root.level
    configure_logging(level, json_lines=True)
    try:
        log = ExecutionLog("E2", "jobs-manager")
        log.debug("Action selected: {event} (from {form})", event="finish", form="event document")
    finally:
        root.handlers, root.level = handlers, root_level
        structlog.reset_defaults()

    assert [line.split(" ", 1)[1] for line in log.take()] == [
        "E2 DEBUG Action selected: finish (from event document)"
    ]
    events = [line["event"] for line in lines(capsys.readouterr().err)]
    assert events == (["Action selected: finish (from event document)"] if in_process_log else [])
