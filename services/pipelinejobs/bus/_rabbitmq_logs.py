"""What a process logs about its RabbitMQ connection: one line per change, not one per attempt.

aio-pika and aiormq recover a dropped connection by themselves, and log every step of it: the
close at error level, an error per channel whose close callback found no transport, an error
and a warning per failed reconnect attempt (every ``reconnect_interval`` for as long as the
broker is away). A broker restart that fixed itself left about 20 error lines per process. The
bus logs the outage itself instead:

- one warning when the connection is lost (with the broker's reason);
- one info line when it is back (with how long it was away);
- one error when it is still not back after ``give_up_after`` seconds: reconnection goes on,
  but the outage has outlasted what recovers by itself, and someone should look.

The libraries' lines about a connection that is being recovered are dropped (a filter on their
loggers); every other line of theirs passes as before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiormq.exceptions import AMQPConnectionError, ChannelInvalidStateError

from pipelinejobs.logs import process_logger

_log = process_logger(component="bus", adapter="rabbitmq")

DEFAULT_GIVE_UP_AFTER = 60.0
"""Seconds without a connection after which the outage is logged as an error."""

_RECOVERED_LINES = {
    # logger name: the beginnings of the messages (format strings) it logs while recovering
    "aiormq.connection": (
        "Unexpected connection close from remote",
        "Cancelling cause reader exited abnormally",
        "error when creating transport",
    ),
    "aio_pika.robust_connection": (
        "Connection attempt to",
        "Connection to %s closed. Reconnecting",
    ),
    "aio_pika.tools": ("Callback %r error",),
    "aio_pika.channel": ("Channel not opened", "Transport is not ready"),
    "aio_pika.message": ("Reject is not sent since channel is closed",),
}
_CONNECTION_ERRORS = (AMQPConnectionError, ChannelInvalidStateError, ConnectionError)


class RecoveredConnectionFilter(logging.Filter):
    """Drops the libraries' lines about a connection that aio-pika is recovering."""

    def filter(self, record: logging.LogRecord) -> bool:
        beginnings = _RECOVERED_LINES.get(record.name)
        if beginnings is None or not str(record.msg).startswith(beginnings):
            return True
        if record.name == "aio_pika.tools":
            # A close callback that failed because the connection is gone; others still pass.
            args = record.args if isinstance(record.args, tuple) else ()
            return not any(isinstance(arg, _CONNECTION_ERRORS) for arg in args)
        return False


_FILTER = RecoveredConnectionFilter()


def quiet_recovered_connections() -> None:
    """Install the filter on the libraries' loggers (once; idempotent)."""
    for name in _RECOVERED_LINES:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


class ConnectionWatch:
    """Logs the outages of one robust connection: lost, back, not back in time."""

    def __init__(self, name: str, *, give_up_after: float = DEFAULT_GIVE_UP_AFTER) -> None:
        self.name = name
        self.give_up_after = give_up_after
        self.closing = False
        """Set before the bus closes the connection itself: that is no outage."""
        self._lost_at: float | None = None
        self._alarm: asyncio.TimerHandle | None = None

    def attach(self, connection: Any) -> None:
        quiet_recovered_connections()
        self.closing = False
        connection.close_callbacks.add(self._on_close)
        connection.reconnect_callbacks.add(self._on_reconnect)

    def _on_close(self, _connection: Any, reason: BaseException | None = None) -> None:
        if self.closing or self._lost_at is not None:
            return
        self._lost_at = time.monotonic()
        _log.warning(
            "RabbitMQ connection lost; reconnecting",
            connection=self.name,
            reason=repr(reason) if reason is not None else None,
        )
        self._alarm = asyncio.get_running_loop().call_later(self.give_up_after, self._not_back)

    def _on_reconnect(self, _connection: Any) -> None:
        if self._lost_at is None:
            return
        away = time.monotonic() - self._lost_at
        self._lost_at = None
        if self._alarm is not None:
            self._alarm.cancel()
            self._alarm = None
        _log.info("RabbitMQ connection back", connection=self.name, seconds=round(away, 1))

    def _not_back(self) -> None:
        self._alarm = None
        if self._lost_at is None or self.closing:
            return
        _log.error(
            "RabbitMQ connection not back: recovery did not succeed in time; still retrying",
            connection=self.name,
            seconds=round(time.monotonic() - self._lost_at, 1),
        )

    def stop(self) -> None:
        self.closing = True
        if self._alarm is not None:
            self._alarm.cancel()
            self._alarm = None
