"""The job state machine: the original's final transition table (11 states, 15 events).

An event that the current state does not accept, or an unknown event name, is refused with
``TransitionNotAllowed`` before anything is written; the caller keeps the job unchanged.
"""

from __future__ import annotations

from enum import StrEnum

from pipelinejobs.errors import InvalidInput, TransitionNotAllowed


class JobState(StrEnum):
    """Where a job is in its life."""

    CREATED = "CREATED"
    RUNNING = "RUNNING"
    FAILED = "FAILED"
    FINISHED = "FINISHED"
    INDEXING = "INDEXING"
    VALIDATING = "VALIDATING"
    VALIDATED = "VALIDATED"
    REJECTED = "REJECTED"
    FINALIZED = "FINALIZED"
    RETIRED = "RETIRED"
    RESET = "RESET"

    @property
    def description(self) -> str:
        return _STATE_DESCRIPTIONS[self]


class JobEvent(StrEnum):
    """Something that happened to a job; every accepted event is appended to its history."""

    CREATE = "create"
    RUN = "run"
    UPDATE = "update"
    RESOURCE = "resource"
    FAIL = "fail"
    FINISH = "finish"
    INDEX = "index"
    INDEXED = "indexed"
    VALIDATE = "validate"
    VALIDATED = "validated"
    FINALIZE = "finalize"
    REJECT = "reject"
    RETIRE = "retire"
    RESET = "reset"
    READY = "ready"

    @property
    def description(self) -> str:
        return _EVENT_DESCRIPTIONS[self]


INITIAL_STATE = JobState.CREATED
ADMIN_EVENTS = frozenset({JobEvent.RESET, JobEvent.READY})
"""Events that need an admin token: they erase or re-arm a job."""
AGENT_ONLY_EVENTS = frozenset({JobEvent.CREATE})
"""Events the jobs-manager refuses from users: only the agent creating a job may send them."""

_STATE_DESCRIPTIONS = {
    JobState.CREATED: "inputs and configuration defined",
    JobState.RUNNING: "actively processing",
    JobState.FAILED: "did not complete successfully",
    JobState.FINISHED: "completed processing and outputs are archived",
    JobState.INDEXING: "outputs being associated with metadata",
    JobState.VALIDATING: "outputs being assessed",
    JobState.VALIDATED: "outputs determined correct",
    JobState.REJECTED: "outputs invalid",
    JobState.FINALIZED: "validated and ready for general use",
    JobState.RETIRED: "should no longer be used",
    JobState.RESET: "being reset for another run",
}
_EVENT_DESCRIPTIONS = {
    JobEvent.CREATE: "create a new job",
    JobEvent.RUN: "mark the job as running",
    JobEvent.UPDATE: "append an information item to the history",
    JobEvent.RESOURCE: "note resource-marshalling activity",
    JobEvent.FAIL: "permanently mark as failed",
    JobEvent.FINISH: "mark complete",
    JobEvent.INDEX: "index the outputs",
    JobEvent.INDEXED: "indexing task complete",
    JobEvent.VALIDATE: "mark as under validation",
    JobEvent.VALIDATED: "validation complete",
    JobEvent.FINALIZE: "mark suitable for use",
    JobEvent.REJECT: "mark unsuitable",
    JobEvent.RETIRE: "retire or deprecate",
    JobEvent.RESET: "begin reset; erases the archive path contents",
    JobEvent.READY: "complete the reset so the job can re-run",
}

_S = JobState
_ANY = frozenset(JobState)
# event -> (source states, destination); a destination of None keeps the state.
_TABLE: dict[JobEvent, tuple[frozenset[JobState], JobState | None]] = {
    JobEvent.CREATE: (frozenset({_S.CREATED}), _S.CREATED),
    JobEvent.RUN: (frozenset({_S.CREATED, _S.RUNNING}), _S.RUNNING),
    JobEvent.UPDATE: (frozenset({_S.CREATED, _S.RUNNING, _S.VALIDATING, _S.INDEXING}), None),
    JobEvent.RESOURCE: (frozenset({_S.CREATED, _S.RUNNING}), None),
    JobEvent.FAIL: (frozenset({_S.CREATED, _S.RUNNING, _S.VALIDATING, _S.INDEXING}), _S.FAILED),
    JobEvent.FINISH: (frozenset({_S.RUNNING, _S.FINISHED}), _S.FINISHED),
    JobEvent.INDEX: (frozenset({_S.INDEXING, _S.FINISHED}), _S.INDEXING),
    JobEvent.INDEXED: (frozenset({_S.FINISHED, _S.INDEXING}), _S.FINISHED),
    JobEvent.VALIDATE: (frozenset({_S.FINISHED, _S.VALIDATED}), _S.VALIDATING),
    JobEvent.VALIDATED: (frozenset({_S.VALIDATED, _S.VALIDATING}), _S.VALIDATED),
    JobEvent.FINALIZE: (frozenset({_S.VALIDATED}), _S.FINALIZED),
    JobEvent.REJECT: (frozenset({_S.VALIDATING}), _S.REJECTED),
    JobEvent.RETIRE: (
        frozenset({_S.FAILED, _S.FINALIZED, _S.FINISHED, _S.REJECTED, _S.VALIDATING, _S.VALIDATED}),
        _S.RETIRED,
    ),
    JobEvent.RESET: (_ANY, _S.RESET),
    JobEvent.READY: (frozenset({_S.RESET}), _S.CREATED),
}


_NEXT: dict[tuple[str, str], JobState] = {
    (source, event): source if destination is None else destination
    for event, (sources, destination) in _TABLE.items()
    for source in sources
}
"""The table as one lookup per transition: (state, event) -> state after it. Members hash as
their values, so a state and an event given by name (``"RUNNING"``, ``"finish"``) find it too."""


def parse_state(value: JobState | str) -> JobState:
    """Accept a ``JobState`` or its name in any case; refuse anything else listing the states."""
    if isinstance(value, JobState):
        return value
    if isinstance(value, str):
        try:
            return JobState(value.upper())
        except ValueError:
            pass
    accepted = ", ".join(JobState)
    raise InvalidInput(f"job state {value!r} is unknown; accepted states: {accepted}")


def parse_event(value: JobEvent | str) -> JobEvent:
    """Accept a ``JobEvent`` or its name in any case; refuse anything else listing the events."""
    event = _event_or_none(value)
    if event is None:
        accepted = ", ".join(JobEvent)
        raise InvalidInput(f"job event {value!r} is unknown; accepted events: {accepted}")
    return event


def allowed_events(state: JobState | str) -> tuple[JobEvent, ...]:
    """The events ``state`` accepts, in the order of the transition table."""
    current = parse_state(state)
    return tuple(event for event, (sources, _) in _TABLE.items() if current in sources)


def transition(state: JobState | str, event: JobEvent | str) -> JobState:
    """The state after ``event``; ``TransitionNotAllowed`` if ``state`` does not accept it."""
    if isinstance(state, str) and isinstance(event, str):
        after = _NEXT.get((state, event))
        if after is not None:
            return after
    current = parse_state(state)
    name = _event_or_none(event)
    if name is None or current not in _TABLE[name][0]:
        allowed = [allowed.value for allowed in allowed_events(current)]
        raise TransitionNotAllowed(current.value, str(event), allowed)
    destination = _TABLE[name][1]
    return current if destination is None else destination


def _event_or_none(value: JobEvent | str) -> JobEvent | None:
    if isinstance(value, JobEvent):
        return value
    if isinstance(value, str):
        try:
            return JobEvent(value.lower())
        except ValueError:
            return None
    return None
