"""``make bench``: every ``tests/benchmarks/bench_*.py`` in one run, side by side.

Each module has ``async def run() -> list[dict]``, one dict per row (see ``harness``). This
runner imports them in name order (or only those named on the command line:
``run.py throughput history``), runs each, and writes the report as Markdown and JSON
(``tests/benchmarks/results/report.md`` and ``report.json``, or under ``--output DIR``), headed
by the machine the numbers come from. Absolute timings depend on the machine; the ratios against
baselines run in the same process and run are what compares.

``BENCH_QUICK=1`` runs everything on tiny sizes, once: a smoke run that proves the harness
works (``tests/benchmarks/test_harness.py`` does that in ``make test``); its numbers mean
nothing. A benchmark that fails is reported as failed in its table, and the others still run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib
import json
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from harness import Row, machine, quick  # noqa: E402

DEFAULT_OUTPUT = HERE / "results"


def discover(selected: list[str]) -> list[str]:
    """Module names of the benchmarks, ``bench_`` prefix included, in name order."""
    names = sorted(path.stem for path in HERE.glob("bench_*.py"))
    if not selected:
        return names
    wanted = {name if name.startswith("bench_") else f"bench_{name}" for name in selected}
    unknown = wanted - set(names)
    if unknown:
        raise SystemExit(
            f"unknown benchmarks {', '.join(sorted(unknown))}; known: {', '.join(names)}"
        )
    return [name for name in names if name in wanted]


async def run_one(name: str) -> tuple[list[Row], float]:
    started = time.perf_counter()
    try:
        module = importlib.import_module(name)
        rows = list(await module.run())
    except Exception as exc:
        traceback.print_exc()
        rows = [{"case": name, "failed": f"{type(exc).__name__}: {exc}"}]
    return rows, time.perf_counter() - started


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:
            return "n/a"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(rows: list[Row]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines.extend("| " + " | ".join(cell(row.get(key)) for key in columns) + " |" for row in rows)
    return lines


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Benchmarks of {report['commit']}, {report['date']}"
        + (" (BENCH_QUICK: tiny sizes, numbers meaningless)" if report["quick"] else ""),
        "",
        f"Machine: {report['machine']}",
        "",
    ]
    for name, section in report["benchmarks"].items():
        lines.append(f"### {name.removeprefix('bench_')} ({section['seconds']:.0f} s)")
        lines.append("")
        lines.extend(table(section["rows"]))
        lines.append("")
    return "\n".join(lines)


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmarks", nargs="*", help="names (e.g. throughput); default all")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="report directory")
    args = parser.parse_args(argv)
    from pipelinejobs.logs import configure_logging

    configure_logging("WARNING", json_lines=False)
    report: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit(),
        "machine": machine(),
        "quick": quick(),
        "benchmarks": {},
    }
    print(f"pipelinejobs benchmarks at {report['commit']} on {report['machine']}", flush=True)
    started = time.perf_counter()
    for name in discover(args.benchmarks):
        print(f"== {name}", flush=True)
        rows, seconds = await run_one(name)
        report["benchmarks"][name] = {"seconds": round(seconds, 1), "rows": rows}
        print("\n".join(table(rows)), f"\n({seconds:.0f} s)\n", flush=True)
    report["seconds"] = round(time.perf_counter() - started, 1)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.output / "report.md").write_text(markdown(report) + "\n")
    print(f"report: {args.output / 'report.md'} and report.json ({report['seconds']:.0f} s)")
    failed = [
        name
        for name, section in report["benchmarks"].items()
        if any("failed" in row for row in section["rows"])
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
