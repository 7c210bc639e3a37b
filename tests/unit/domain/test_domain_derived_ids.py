"""Ids derived from several inputs never collide for distinct inputs (issue 13, item 1)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from pipelinejobs.domain.derived_ids import (
    derived_id,
    follow_up_message_id,
    sender_message_id,
    step_message_id,
)
from pipelinejobs.domain.executions import execution_id_for

# Separators, length-looking digits and NULs are the characters a naive join trips over.
TEXT = st.text(alphabet=st.sampled_from("ab/:.|\x00019%é"), max_size=8) | st.text(max_size=12)
PARTS = st.lists(TEXT, min_size=1, max_size=4)


@given(PARTS, PARTS)
def test_distinct_input_tuples_never_give_the_same_id(first: list[str], second: list[str]) -> None:
    if first != second:
        assert derived_id(*first) != derived_id(*second)
    else:
        assert derived_id(*first) == derived_id(*second)


@given(TEXT, TEXT, TEXT, TEXT)
def test_sender_message_ids_are_scoped_to_their_sender(
    sender: str, given_id: str, other_sender: str, other_id: str
) -> None:
    same = (sender, given_id) == (other_sender, other_id)
    assert (
        sender_message_id(sender, given_id) == sender_message_id(other_sender, other_id)
    ) is same


def test_the_reported_collision_is_gone() -> None:
    """User ``alice/x`` sending ``p-1`` and user ``alice`` sending ``x/p-1``."""
    first = sender_message_id("user:alice/x", "p-1")
    second = sender_message_id("user:alice", "x/p-1")
    assert first != second
    assert execution_id_for(first) != execution_id_for(second)


@given(TEXT, st.integers(min_value=1, max_value=50), TEXT)
def test_follow_ups_and_steps_never_meet_a_senders_own_ids(
    parent: str, number: int, given_id: str
) -> None:
    """A follow-up or a step of a message is never the id a sender could give another one."""
    own = sender_message_id(parent, given_id)
    assert follow_up_message_id(parent, number) != own
    assert step_message_id(parent, str(number)) != own
    assert follow_up_message_id(parent, number) != step_message_id(parent, str(number))
    assert follow_up_message_id(sender_message_id("user:a", parent), number) != (
        sender_message_id("user:a", f"{parent}.{number}")
    )
