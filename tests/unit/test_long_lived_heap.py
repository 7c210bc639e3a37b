"""What a server made while starting stays out of full garbage collections while it serves,
and is handed back to the collector when it stops."""

from __future__ import annotations

import gc

from pipelinejobs.host.process import long_lived_heap


class Thing:
    """An object the collector tracks (a dict of plain values may be untracked)."""


def test_objects_made_before_serving_are_frozen_until_the_server_stops() -> None:
    made_at_start = [Thing() for _ in range(1000)]

    with long_lived_heap():
        frozen_while_serving = gc.get_freeze_count()
        made_while_serving = [Thing() for _ in range(10)]
        tracked = {id(item) for item in gc.get_objects()}

    assert frozen_while_serving >= len(made_at_start)
    assert id(made_at_start[0]) not in tracked  # a full collection does not walk it
    assert id(made_while_serving[0]) in tracked
    assert gc.get_freeze_count() == 0
