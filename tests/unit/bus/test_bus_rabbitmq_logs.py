"""What a process logs about a RabbitMQ outage it recovers from: one warning, one info line.

The libraries' own lines are sent through their real loggers; the connection is a stand-in with
aio-pika's two callback collections. The broker-side test is in ``tests/reliability``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import structlog
from aio_pika.tools import CallbackCollection
from aiormq.exceptions import ChannelInvalidStateError
from pipelinejobs.bus._rabbitmq_logs import ConnectionWatch


class Connection:
    def __init__(self) -> None:
        self.close_callbacks: Any = CallbackCollection(self)
        self.reconnect_callbacks: Any = CallbackCollection(self)


def library_lines_of_an_outage() -> None:
    """What aiormq and aio-pika log for one dropped connection and two failed reconnects."""
    logging.getLogger("aiormq.connection").error(
        'Unexpected connection close from remote "%s", Connection.Close(reply_code=%r)', "x", 320
    )
    logging.getLogger("aiormq.connection").warning("Cancelling cause reader exited abnormally")
    for _ in range(2):
        logging.getLogger("aio_pika.tools").error(
            "Callback %r error: %s: %s",
            "cb",
            "ChannelInvalidStateError",
            ChannelInvalidStateError(),
        )
        logging.getLogger("aiormq.connection").error("error when creating transport: %r", OSError())
        logging.getLogger("aio_pika.robust_connection").warning(
            'Connection attempt to "%s" failed: %s. Reconnecting after %r seconds.', "x", "e", 2
        )


async def test_an_outage_that_recovers_is_one_warning_and_one_info_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    connection = Connection()
    watch = ConnectionWatch("test connection", give_up_after=0.2)
    watch.attach(connection)

    with structlog.testing.capture_logs() as ours, caplog.at_level(logging.DEBUG):
        await connection.close_callbacks(ConnectionError("CONNECTION_FORCED"))
        library_lines_of_an_outage()
        await connection.close_callbacks(ConnectionError("again"))  # a failed restore
        await connection.reconnect_callbacks()
        await asyncio.sleep(0.3)  # past give_up_after: no error, it came back

    assert [(line["log_level"], line["event"]) for line in ours] == [
        ("warning", "RabbitMQ connection lost; reconnecting"),
        ("info", "RabbitMQ connection back"),
    ]
    assert [r for r in caplog.records if r.name.startswith(("aiormq", "aio_pika"))] == []


async def test_an_outage_that_outlasts_recovery_is_an_error() -> None:
    connection = Connection()
    watch = ConnectionWatch("test connection", give_up_after=0.05)
    watch.attach(connection)

    with structlog.testing.capture_logs() as ours:
        await connection.close_callbacks(ConnectionError("CONNECTION_FORCED"))
        await asyncio.sleep(0.2)
    watch.stop()

    assert [line["log_level"] for line in ours] == ["warning", "error"]


async def test_other_library_errors_still_pass(caplog: pytest.LogCaptureFixture) -> None:
    ConnectionWatch("test connection").attach(Connection())

    with caplog.at_level(logging.DEBUG):
        logging.getLogger("aio_pika.tools").error(
            "Callback %r error: %s: %s", "cb", "E", KeyError()
        )
        logging.getLogger("aiormq.connection").error("Unexpected frame %r", "frame")

    assert [r.levelname for r in caplog.records] == ["ERROR", "ERROR"]
