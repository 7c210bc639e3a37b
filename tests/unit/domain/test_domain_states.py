"""The job state machine against the facts file's table, for every state and event."""

from __future__ import annotations

import itertools

import pytest
from pipelinejobs.domain.states import (
    ADMIN_EVENTS,
    AGENT_ONLY_EVENTS,
    INITIAL_STATE,
    JobEvent,
    JobState,
    allowed_events,
    parse_event,
    parse_state,
    transition,
)
from pipelinejobs.errors import InvalidInput, TransitionNotAllowed

STATES = [
    "CREATED",
    "RUNNING",
    "FAILED",
    "FINISHED",
    "INDEXING",
    "VALIDATING",
    "VALIDATED",
    "REJECTED",
    "FINALIZED",
    "RETIRED",
    "RESET",
]
EVENTS = [
    "create",
    "run",
    "update",
    "resource",
    "fail",
    "finish",
    "index",
    "indexed",
    "validate",
    "validated",
    "finalize",
    "reject",
    "retire",
    "reset",
    "ready",
]

# sd2e-facts.md section 1, "the same table grouped by state", copied by hand.
EXPECTED: dict[str, dict[str, str]] = {
    "CREATED": {
        "create": "CREATED",
        "run": "RUNNING",
        "update": "CREATED",
        "resource": "CREATED",
        "fail": "FAILED",
        "reset": "RESET",
    },
    "RUNNING": {
        "run": "RUNNING",
        "update": "RUNNING",
        "resource": "RUNNING",
        "fail": "FAILED",
        "finish": "FINISHED",
        "reset": "RESET",
    },
    "FINISHED": {
        "finish": "FINISHED",
        "index": "INDEXING",
        "indexed": "FINISHED",
        "validate": "VALIDATING",
        "retire": "RETIRED",
        "reset": "RESET",
    },
    "INDEXING": {
        "update": "INDEXING",
        "fail": "FAILED",
        "index": "INDEXING",
        "indexed": "FINISHED",
        "reset": "RESET",
    },
    "VALIDATING": {
        "update": "VALIDATING",
        "fail": "FAILED",
        "validated": "VALIDATED",
        "reject": "REJECTED",
        "retire": "RETIRED",
        "reset": "RESET",
    },
    "VALIDATED": {
        "validate": "VALIDATING",
        "validated": "VALIDATED",
        "finalize": "FINALIZED",
        "retire": "RETIRED",
        "reset": "RESET",
    },
    "FAILED": {"retire": "RETIRED", "reset": "RESET"},
    "REJECTED": {"retire": "RETIRED", "reset": "RESET"},
    "FINALIZED": {"retire": "RETIRED", "reset": "RESET"},
    "RETIRED": {"reset": "RESET"},
    "RESET": {"ready": "CREATED", "reset": "RESET"},
}


def test_states_and_events_are_exactly_the_documented_ones() -> None:
    assert [state.value for state in JobState] == STATES
    assert [event.value for event in JobEvent] == EVENTS
    assert INITIAL_STATE is JobState.CREATED


@pytest.mark.parametrize(("state", "event"), list(itertools.product(STATES, EVENTS)))
def test_every_state_event_pair(state: str, event: str) -> None:
    destination = EXPECTED[state].get(event)
    if destination is None:
        with pytest.raises(TransitionNotAllowed) as caught:
            transition(state, event)
        assert caught.value.state == state
        assert caught.value.event == event
        assert sorted(caught.value.allowed) == sorted(EXPECTED[state])
        assert state in str(caught.value)
        assert repr(event) in str(caught.value)
    else:
        assert transition(JobState(state), JobEvent(event)) is JobState(destination)
        assert transition(state, event) is JobState(destination)
        assert transition(state.lower(), event.upper()) is JobState(destination)


@pytest.mark.parametrize("state", STATES)
def test_allowed_events_follow_the_table_order(state: str) -> None:
    allowed = allowed_events(state)
    assert {event.value for event in allowed} == set(EXPECTED[state])
    assert list(allowed) == sorted(allowed, key=EVENTS.index)


def test_refusal_lists_the_allowed_events() -> None:
    with pytest.raises(TransitionNotAllowed) as caught:
        transition(JobState.FINISHED, JobEvent.RUN)
    assert str(caught.value) == (
        "event 'run' is not allowed in state FINISHED; "
        "allowed events: finish, index, indexed, validate, retire, reset"
    )


def test_input_is_case_insensitive() -> None:
    assert transition("created", "RUN") is JobState.RUNNING
    assert transition("Running", "Finish") is JobState.FINISHED


@pytest.mark.parametrize("event", ["updated", "", "delete", "run ", "RUNNING"])
def test_unknown_event_is_refused_like_a_forbidden_one(event: str) -> None:
    with pytest.raises(TransitionNotAllowed) as caught:
        transition(JobState.CREATED, event)
    assert caught.value.event == event
    assert caught.value.allowed == ["create", "run", "update", "resource", "fail", "reset"]


@pytest.mark.parametrize("state", ["DONE", "", "created ", None])
def test_unknown_state_is_refused_naming_the_accepted_states(state: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        transition(state, JobEvent.RESET)
    assert "accepted states: CREATED, RUNNING" in str(caught.value)
    with pytest.raises(InvalidInput):
        allowed_events(state)


def test_parse_helpers() -> None:
    assert parse_state("finalized") is JobState.FINALIZED
    assert parse_event("READY") is JobEvent.READY
    with pytest.raises(InvalidInput, match="accepted events: create, run"):
        parse_event("updated")


def test_reset_and_ready_need_an_admin_and_create_is_for_agents() -> None:
    assert {event.value for event in ADMIN_EVENTS} == {"reset", "ready"}
    assert {event.value for event in AGENT_ONLY_EVENTS} == {"create"}


def test_a_full_run_through_the_lifecycle() -> None:
    state = INITIAL_STATE
    for event in ["create", "run", "update", "finish", "index", "indexed", "validate"]:
        state = transition(state, event)
    for event in ["validated", "finalize", "retire", "reset", "ready"]:
        state = transition(state, event)
    assert state is JobState.CREATED


def test_descriptions_are_documented_for_every_member() -> None:
    assert JobState.FINISHED.description == "completed processing and outputs are archived"
    assert JobEvent.UPDATE.description == "append an information item to the history"
    assert all(state.description for state in JobState)
    assert all(event.description for event in JobEvent)


def test_the_refusal_is_importable_beside_the_state_machine() -> None:
    from pipelinejobs import domain
    from pipelinejobs.domain import TransitionNotAllowed as FromDomain

    assert FromDomain is TransitionNotAllowed
    assert "TransitionNotAllowed" in domain.__all__
    with pytest.raises(FromDomain, match="allowed events: retire, reset"):
        domain.transition("FAILED", "run")
