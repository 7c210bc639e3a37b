"""Balanced rendezvous assignment of partitions to the consumers of an actor."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pipelinejobs.bus._assignment import assign

members_strategy = st.sets(st.text(min_size=1, max_size=12), min_size=1, max_size=12)


@given(partitions=st.integers(1, 64), members=members_strategy)
def test_every_partition_has_one_owner_and_nobody_takes_more_than_a_fair_share(
    partitions: int, members: set[str]
) -> None:
    owners = assign(partitions, members)

    assert len(owners) == partitions
    assert set(owners) <= members
    share = math.ceil(partitions / len(members))
    assert max(Counter(owners).values()) <= share


@given(partitions=st.integers(1, 64), members=members_strategy)
def test_every_member_computes_the_same_answer_whatever_order_it_hears_of_the_others(
    partitions: int, members: set[str]
) -> None:
    assert assign(partitions, sorted(members)) == assign(partitions, sorted(members, reverse=True))


def test_eight_partitions_over_four_members_give_each_two() -> None:
    owners = assign(8, ["a", "b", "c", "d"])

    assert sorted(Counter(owners).values()) == [2, 2, 2, 2]


def test_a_member_leaving_moves_few_partitions_of_the_others() -> None:
    members = [f"member-{n}" for n in range(8)]
    before = assign(256, members)
    after = assign(256, members[:-1])

    kept = sum(1 for old, new in zip(before, after, strict=True) if old == new)
    leaver_had = before.count(members[-1])
    # The leaver's partitions move, and the share limit displaces a few more: far from all.
    assert kept >= 256 - 3 * leaver_had


def test_a_single_member_owns_everything() -> None:
    assert assign(5, ["only"]) == ["only"] * 5


@pytest.mark.parametrize(("partitions", "members"), [(0, ["a"]), (4, [])])
def test_impossible_assignments_are_refused(partitions: int, members: list[str]) -> None:
    with pytest.raises(ValueError, match="at least"):
        assign(partitions, members)
