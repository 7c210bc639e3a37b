"""In-process costs against the simplest equivalent, measured side by side.

- validation: schema validation of the documentation's finish event vs. ``json.loads`` of it.
- transition: the state machine's ``transition`` vs. a plain dict lookup.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from harness import Row, ratio, sized
from pipelinejobs.domain.states import transition
from pipelinejobs.messages.schemas import registry


def timed(function: Callable[[], object], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        function()
    return time.perf_counter() - start


def row(case: str, ours: float, baseline: float, unit: str) -> Row:
    return {
        "case": case,
        "ours s": round(ours, 4),
        "baseline s": round(baseline, 4),
        "ratio": ratio(ours, baseline),
        "baseline is": unit,
    }


def bench_validation() -> Row:
    document = {
        "uuid": "1073f4ff-c2b9-5190-bd9a-e6a406d9796a",
        "name": "finish",
        "token": "0dc73dc3ff39b49a",
    }
    text = json.dumps(document)
    schemas = registry()
    schemas.validate(document, "pipelinejob_manager_event")
    repeat = sized(5000, 200)
    ours = timed(lambda: registry().validate(json.loads(text), "pipelinejob_manager_event"), repeat)
    baseline = timed(lambda: json.loads(text), repeat)
    return row("validation", ours, baseline, f"json.loads ({repeat:,} finish events)")


def bench_transition() -> Row:
    table = {("RUNNING", "finish"): "FINISHED"}
    repeat = sized(100_000, 1000)
    ours = timed(lambda: transition("RUNNING", "finish"), repeat)
    baseline = timed(lambda: table[("RUNNING", "finish")], repeat)
    return row("transition", ours, baseline, f"dict lookup ({repeat:,} transitions)")


async def run() -> list[Row]:
    return [bench_transition(), bench_validation()]
