"""The one error tree of pipelinejobs.

Every refusal names what was wrong and what would be accepted. Callers catch these classes,
never a driver's: adapters translate driver errors at the boundary. The runtime decides what
to do with a failed message from the branch alone: a ``PermanentError`` ends the execution as
ERROR and dead-letters the message (retrying cannot help); a ``TransientError`` is retried with
backoff (the store or broker may come back).

::

    PipelineJobsError
    ├── PermanentError
    │   ├── InvalidInput (also ValueError)   malformed or oversized input, schema violations
    │   │   ├── InvalidIdentifier            not a typed UUID, or of the wrong type
    │   │   ├── SchemaViolation              a document breaks its JSON Schema (lists each path)
    │   │   └── MessageTooLarge              body or nesting over the configured limit
    │   ├── TransitionNotAllowed             event not allowed in the job's state
    │   ├── Unauthorized                     missing, wrong or expired update/admin token
    │   ├── NotFound                         no such pipeline, job, record, nonce, execution
    │   ├── Conflict                         the change contradicts what is stored
    │   └── NonceRejected                    nonce unknown, for another actor, too low, used up
    └── TransientError
        ├── VersionConflict                  lost an optimistic-concurrency race: reload, retry
        ├── StoreUnavailable                 the store cannot be reached now
        └── BusUnavailable                   the broker cannot be reached now
"""

from __future__ import annotations

from collections.abc import Sequence


class PipelineJobsError(Exception):
    """Root of every error this package raises on purpose."""


class PermanentError(PipelineJobsError):
    """Retrying the same message cannot succeed."""


class TransientError(PipelineJobsError):
    """The same message may succeed later."""


class InvalidInput(PermanentError, ValueError):
    """Input is malformed; the message names the field and what is accepted."""


class InvalidIdentifier(InvalidInput):
    """A value is not a typed UUID, or is one of the wrong type."""


class SchemaViolation(InvalidInput):
    """A document breaks its JSON Schema; ``problems`` holds one line per JSON path."""

    def __init__(self, schema: str, problems: Sequence[str]) -> None:
        self.schema = schema
        self.problems = list(problems)
        listing = "; ".join(self.problems)
        super().__init__(f"message does not match schema {schema}: {listing}")


class MessageTooLarge(InvalidInput):
    """A body or structure exceeds a configured limit (size, depth, count)."""


class TransitionNotAllowed(PermanentError):
    """A job event that its current state does not accept (or an unknown event name)."""

    def __init__(self, state: str, event: str, allowed: Sequence[str]) -> None:
        self.state = state
        self.event = event
        self.allowed = list(allowed)
        super().__init__(
            f"event {event!r} is not allowed in state {state}; "
            f"allowed events: {', '.join(self.allowed) or 'none'}"
        )


class Unauthorized(PermanentError):
    """A token is missing, wrong or expired for the requested change."""


class NotFound(PermanentError):
    """The named document does not exist."""


class Conflict(PermanentError):
    """The requested change contradicts the stored document (e.g. duplicate pipeline)."""


class NonceRejected(PermanentError):
    """A nonce cannot authorize this request; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class VersionConflict(TransientError):
    """Another writer changed the document first; reload it and decide again."""


class StoreUnavailable(TransientError):
    """The document store cannot be reached or timed out."""


class BusUnavailable(TransientError):
    """The message broker cannot be reached or did not confirm a publish."""
