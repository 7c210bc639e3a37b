"""What the SDK raises, placed in the one error tree of :mod:`pipelinejobs.errors`.

::

    PermanentError
    ├── RequestRefused            the gateway answered 4xx with a problem document
    ├── ExecutionFailed           the message was accepted, but its execution ended ERROR
    └── JobNotReady               a ManagedPipelineJob method needs setup() first, or the job
                                  is past the point where the method applies (cancel)
    TransientError
    ├── GatewayUnreachable        no answer at all (connection refused, DNS, timeout)
    │   └── NotAGateway           something answered 2xx, but not as a pipelinejobs gateway
    │                             does (HTML, not JSON, fields missing): a wrong URL
    ├── GatewayUnavailable        the gateway answered 5xx (store or bus down): retry later
    └── ExecutionTimedOut         the execution did not finish within the wait (also TimeoutError)
"""

from __future__ import annotations

from typing import Any

from pipelinejobs.errors import PermanentError, TransientError


class RequestRefused(PermanentError):
    """The gateway refused the request; ``detail`` says what to change."""

    def __init__(self, status: int, detail: str, problem: dict[str, Any] | None = None) -> None:
        self.status = status
        self.detail = detail
        self.problem = problem or {}
        errors = self.problem.get("errors")
        self.errors: list[str] = [str(line) for line in errors] if isinstance(errors, list) else []
        super().__init__(f"HTTP {status}: {detail}")


class GatewayUnavailable(TransientError):
    """The gateway answered, but cannot serve now (HTTP 5xx); the request may succeed later."""

    def __init__(self, status: int, detail: str, problem: dict[str, Any] | None = None) -> None:
        self.status = status
        self.detail = detail
        self.problem = problem or {}
        super().__init__(f"HTTP {status}: {detail}")


class GatewayUnreachable(TransientError):
    """Nothing answered at the gateway's URL (not running, wrong URL, network down)."""


class NotAGateway(GatewayUnreachable):
    """Something answered at the URL, but not as a pipelinejobs gateway does.

    A gateway answers every success with a JSON document of a known shape; anything else (an
    HTML page, a proxy's login form, another service's JSON) means the URL points elsewhere, so
    the caller learns that instead of meeting a ``KeyError`` or a JSON decoding error.
    """


class ExecutionFailed(PermanentError):
    """The actor refused the message: its execution ended ERROR with ``error`` as the reason."""

    def __init__(self, actor: str, execution_id: str, error: str, execution: dict[str, Any]):
        self.actor = actor
        self.execution_id = execution_id
        self.error = error
        self.execution = execution
        super().__init__(f"{actor} execution {execution_id} ended in ERROR: {error}")


class ExecutionTimedOut(TransientError, TimeoutError):
    """The execution was still SUBMITTED or RUNNING when the wait ran out."""

    def __init__(self, actor: str, execution_id: str, status: str, timeout: float) -> None:
        self.actor = actor
        self.execution_id = execution_id
        self.status = status
        super().__init__(
            f"{actor} execution {execution_id} is still {status} after {timeout:g} s; read it "
            f"later with `pipelinejobs logs {actor} {execution_id}`"
        )


class JobNotReady(PermanentError):
    """A job method called when the job cannot take it (not set up yet, or already running)."""
