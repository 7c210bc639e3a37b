"""Which consumer should own which partition: balanced rendezvous hashing.

Every member computes the same answer from the same membership, with no coordinator: each
partition goes to the member ranking it highest (``sha256(member:partition)``), except that no
member takes more than its fair share (``ceil(partitions / members)``). Ranking by hash keeps
the answer stable: when a member joins or leaves, only the partitions it gains or loses (and
a few displaced by the share limit) move.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable


def assign(partitions: int, members: Iterable[str]) -> list[str]:
    """The owner of each partition ``0..partitions-1`` among ``members`` (at least one)."""
    ranked = sorted(set(members))
    if not ranked:
        raise ValueError("assign: at least one member is needed to own the partitions")
    if partitions < 1:
        raise ValueError(f"assign: partitions must be at least 1, got {partitions}")
    share = math.ceil(partitions / len(ranked))
    owners: list[str] = [""] * partitions
    load = dict.fromkeys(ranked, 0)
    # Strongest preferences first, so the share limit displaces the weakest claims.
    claims = sorted(
        (
            (_rank(member, partition), member, partition)
            for member in ranked
            for partition in range(partitions)
        ),
        reverse=True,
    )
    for _, member, partition in claims:
        if not owners[partition] and load[member] < share:
            owners[partition] = member
            load[member] += 1
    return owners


def _rank(member: str, partition: int) -> bytes:
    return hashlib.sha256(f"{member}:{partition}".encode()).digest()
