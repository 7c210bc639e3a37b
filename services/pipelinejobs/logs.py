"""Process logs (JSON lines, secrets redacted) and execution logs (what the sender reads).

Two audiences, one call. Actors log through :class:`ExecutionLog` with a message template and
values, e.g. ``log.info("Created pipeline {uuid} with update token {token}", uuid=u, token=t)``.
The execution's own log keeps the full line (the documentation shows the sender their token
there), while the process log, read by operators, gets the same event through structlog with every
secret value redacted: values under secret-sounding keys, plus a pattern scrub for bearer tokens,
nonces, ``token=`` parameters and URL passwords as a second line of defence. Standard-library
loggers (uvicorn, aio-pika, PyMongo...) are routed through the same redaction and renderer, so a
driver's warning is a redacted JSON line like ours, never a raw one.

An execution's log holds only what its actors wrote for the sender through ``ExecutionLog``;
driver and framework lines go to the process log alone.

Every handled message writes execution log lines, so a line costs little: its time is
formatted once for both logs, and a line below the process log's level (the DEBUG ``Action
selected``) is neither redacted nor handed to structlog.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from pipelinejobs.domain.executions import utc_now_precise

REDACTED = "[REDACTED]"
TIMESTAMP = "timestamp"
"""The key of a process log line's time."""
_LEVELS = logging.getLevelNamesMapping()
SECRET_KEYS = frozenset(
    {
        "token",
        "update_token",
        "admin_token",
        "nonce",
        "x-nonce",
        "x_nonce",
        "authorization",
        "password",
        "secret",
        "jwt",
        "bearer",
        "api_key",
        "key",
    }
)
_SECRET = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"  # a Bearer token
    r"|((?:x-nonce|nonce|token)[\"']?\s*[=:]\s*[\"']?)[^\s&\"',}]+"  # nonce=, token: ...
    r"|([a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+@"  # the password of a URL
)
"""Every secret :func:`scrub` removes, in one pattern: a line is scanned once, not once per kind."""


def _redacted(match: re.Match[str]) -> str:
    prefix = match.group(1) or match.group(2)
    return prefix + REDACTED if prefix is not None else match.group(3) + REDACTED + "@"


def scrub(text: str) -> str:
    """Remove bearer tokens, nonces, token parameters and URL passwords from free text.

    Most process log lines carry none of them: a substring check on the lowered text finds
    that, and only a line with a marker is scanned by the (single) pattern.
    """
    lowered = text.lower()  # without one of these markers ``_SECRET`` cannot match
    if (
        "token" not in lowered
        and "nonce" not in lowered
        and "bearer" not in lowered
        and "://" not in lowered
    ):
        return text
    return _SECRET.sub(_redacted, text)


def redact_value(key: str, value: Any) -> Any:
    if key.lower() in SECRET_KEYS:
        return REDACTED
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value("", v) for v in value]
    return value


def redact_event(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the last stop before rendering a process log line."""
    for key in list(event_dict):
        if key == "event":
            event_dict[key] = scrub(str(event_dict[key]))
        else:
            event_dict[key] = redact_value(key, event_dict[key])
    return event_dict


def stamp_time(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the line's UTC time (``2026-12-06T05:26:05.123456Z``), unless the
    caller took it already (an execution log line carries the time of its twin)."""
    if TIMESTAMP not in event_dict:
        event_dict[TIMESTAMP] = utc_now_precise()
    return event_dict


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    """Process logs as JSON lines on stderr (or console lines for a terminal), always redacted."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        stamp_time,
    ]
    _route_standard_logging(level, shared, renderer)
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            redact_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


def _route_standard_logging(level: str, shared: list[Any], renderer: Any) -> None:
    """Send standard-library records through the redaction and renderer of our own lines."""
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_event,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not isinstance(h, _StderrHandler)] + [handler]
    root.setLevel(logging.getLevelNamesMapping().get(level.upper(), logging.INFO))
    # Drivers log their parameters (nonce records, URLs) at DEBUG: keep them out even then.
    for noisy in ("aiosqlite", "aio_pika", "aiormq", "pymongo", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (tests swap it), one line a record."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # logging must never break the caller
            self.handleError(record)


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    """Print to whatever ``sys.stderr`` is when the logger is made (tests swap it)."""
    return structlog.PrintLogger(sys.stderr)


def process_logger(**bound: Any) -> Any:
    """A structlog logger for operators' process logs.

    Lazy: it takes the configuration in force when it logs, not when it was made, so a
    module-level logger created at import still renders JSON and redacts secrets once
    :func:`configure_logging` has run.
    """
    return structlog.get_logger("pipelinejobs", **bound)


class ExecutionLog:
    """The log of one execution: full lines for the sender, redacted mirror for operators."""

    def __init__(self, execution_id: str, actor: str) -> None:
        self.execution_id = execution_id
        self.actor = actor
        self.lines: list[str] = []
        self._process: Any = None

    def debug(self, template: str, **values: Any) -> None:
        self._log("debug", template, values)

    def info(self, template: str, **values: Any) -> None:
        self._log("info", template, values)

    def warning(self, template: str, **values: Any) -> None:
        self._log("warning", template, values)

    def error(self, template: str, **values: Any) -> None:
        self._log("error", template, values)

    def take(self) -> list[str]:
        """Lines logged since the last call (to be appended to the stored execution)."""
        taken, self.lines = self.lines, []
        return taken

    def _log(self, level: str, template: str, values: dict[str, Any]) -> None:
        stamp = utc_now_precise()
        full = template.format(**values) if values else template
        self.lines.append(f"{stamp} {self.execution_id} {level.upper()} {full}")
        process = self._process_log()
        if not _enabled(process, level):
            return
        safe = {key: redact_value(key, value) for key, value in values.items()}
        unchanged = all(safe[key] is value for key, value in values.items())
        line = full if unchanged else template.format(**safe)
        getattr(process, level)(line, **{TIMESTAMP: stamp})

    def _process_log(self) -> Any:
        """The process logger, made at the first line with the configuration in force then:
        one execution's lines share it instead of assembling a logger each."""
        if self._process is None:
            self._process = process_logger(execution_id=self.execution_id, actor=self.actor).bind()
        return self._process


def _enabled(logger: Any, level: str) -> bool:
    """Whether ``logger`` writes lines of ``level`` (a logger that cannot say writes them)."""
    is_enabled_for = getattr(logger, "is_enabled_for", None)
    return is_enabled_for is None or bool(is_enabled_for(_LEVELS[level.upper()]))
