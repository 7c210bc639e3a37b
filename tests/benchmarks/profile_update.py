"""Where a jobs-manager ``update`` event spends its time, end to end (issue 15, item 6).

``python tests/benchmarks/profile_update.py [EVENTS] [JOBS]`` runs the embedded system (SQLite,
the in-process bus) with process logs at INFO rendered as JSON (to a discarded stream, as a
server with its logs redirected would), submits EVENTS ``update`` events spread over JOBS running
jobs as the gateway does (execution record, publish), waits until the last one is applied and
prints, from cProfile, the time of the event loop's thread per event, grouped by where it went
(the SQLite statements themselves run on aiosqlite's thread: the loop waits for them in
``epoll``), then the functions with the most time of their own.
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from pipelinejobs.actors.jobs_manager import JobsManager
from pipelinejobs.host.bootstrap import build_system
from pipelinejobs.logs import configure_logging
from pipelinejobs.settings import Settings
from pipelinejobs.storage.local import LocalStorage
from seeding import job_uuids, seed_running_jobs

GROUPS = (
    ("waiting for SQLite (thread hop, statements, fsync)", ("select.epoll", "_queue.SimpleQueue")),
    ("JSON encode/decode", ("json/",)),
    ("schema validation (jsonschema, referencing)", ("jsonschema", "referencing", "schemas.py")),
    ("schema directory lookup", ("schema_dir.py", "pathlib", "posixpath", "genericpath")),
    ("logging and redaction", ("structlog", "logs.py", "re.Pattern", "/re/", "logging/")),
    ("time formatting", ("strftime", "datetime", "executions.py")),
    ("store adapter (Python side)", ("store/", "aiosqlite")),
    ("event loop machinery", ("asyncio/", "_contextvars", "selectors")),
    ("actors, runtime, ledger", ("pipelinejobs/",)),
)


def group_of(key: tuple[str, int, str]) -> str:
    where = f"{key[0]}:{key[2]}"
    for name, needles in GROUPS:
        if any(needle in where for needle in needles):
            return name
    return "other"


async def profile(events: int, jobs: int) -> tuple[cProfile.Profile, float]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        storage = LocalStorage(data / "storage")
        system = build_system(
            Settings(data_dir=data), actors=[JobsManager(storage)], storage=storage
        )
        await system.start()
        uuids = job_uuids(jobs, "profiled")
        await seed_running_jobs(system.store, uuids)
        tokens = {uuid: system.update_tokens.issue(uuid) for uuid in uuids}
        profiler = cProfile.Profile()
        start = time.perf_counter()
        profiler.enable()
        last: dict[str, str] = {}
        for n in range(events):
            uuid = uuids[n % jobs]
            document = {"uuid": uuid, "name": "update", "token": tokens[uuid], "data": {"n": n}}
            last[uuid] = await system.send("jobs-manager", document)
        for execution_id in last.values():
            execution = await system.wait(execution_id, within=600)
            assert execution["status"] == "COMPLETE", execution
        profiler.disable()
        elapsed = time.perf_counter() - start
        await system.close()
    return profiler, elapsed


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - the log is discarded
    configure_logging("INFO", json_lines=True)
    profiler, elapsed = asyncio.run(profile(events, jobs))
    sys.stderr = sys.__stderr__
    print(f"{events} update events over {jobs} jobs in {elapsed:.2f} s (under cProfile): ")
    print(f"{elapsed / events * 1000:.2f} ms each")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    raw = stats.stats  # type: ignore[attr-defined]
    totals: dict[str, float] = {}
    members: dict[str, list[tuple[float, str]]] = {}
    for key, entry in raw.items():
        group = group_of(key)
        totals[group] = totals.get(group, 0.0) + entry[2]
        where = f"{key[0].rsplit('/', 2)[-1]}:{key[2]}" if key[0] != "~" else key[2]
        members.setdefault(group, []).append((entry[2], where))
    whole = sum(totals.values())
    print("own time of the event loop's thread, per event, and its three largest parts:")
    for name, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        share = seconds / whole * 100
        top = ", ".join(where for _, where in sorted(members[name], reverse=True)[:3])
        print(f"  {seconds / events * 1000:7.3f} ms  {share:5.1f}%  {name}  ({top})")
    hops = sum(
        entry[0] for key, entry in raw.items() if "aiosqlite" in key[0] and key[2] == "_execute"
    )
    print(f"aiosqlite thread hops (statements, fetches, commits) per event: {hops / events:.1f}")
    print("functions with the most own time:")
    stats.sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
