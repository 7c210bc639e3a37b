"""What every benchmark module shares: quick mode, percentiles, rows, subprocesses, RabbitMQ.

A benchmark module is ``tests/benchmarks/bench_<name>.py`` with ``async def run() -> list[dict]``:
one dict per row of its table. The keys are free; the report renders each module's rows as one
table whose columns are the keys in the order they first appear. The usual ones: ``case``,
``ours``, ``baseline``, ``ratio``, ``unit``, ``target`` and ``met`` (the target reached or not;
targets are printed beside the numbers, never asserted).
"""

from __future__ import annotations

import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

AMQP_URL = os.environ.get("PIPELINEJOBS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
HERE = Path(__file__).resolve().parent
STOP_LIMIT = 30.0

Row = dict[str, Any]


def quick() -> bool:
    """``BENCH_QUICK=1``: tiny sizes, one round: proves the harness works, measures nothing."""
    return os.environ.get("BENCH_QUICK", "") not in ("", "0", "false")


def sized(full: int, small: int) -> int:
    return small if quick() else full


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (0.5, 0.99) by the nearest-rank method."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio(ours: float | None, baseline: float | None) -> float | None:
    if ours is None or baseline is None or baseline == 0:
        return None
    return round(ours / baseline, 2)


def met(value: float | None, limit: float, *, at_least: bool) -> str:
    """``yes``/``no`` for a target (``n/a`` when there is no measurement)."""
    if value is None or value != value:  # None or NaN
        return "n/a"
    return "yes" if (value >= limit if at_least else value <= limit) else "no"


def skipped(benchmark: str, reason: str) -> list[Row]:
    """The one row a benchmark returns when it cannot run here, saying why."""
    print(f"{benchmark}: skipped: {reason}", flush=True)
    return [{"case": benchmark, "skipped": reason}]


def command(*args: str) -> list[str]:
    """The installed ``pipelinejobs`` console script with ``args``."""
    script = Path(sys.executable).with_name("pipelinejobs")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "pipelinejobs.cli.main"]
    return [*base, *args]


def clean_environment(**values: str) -> dict[str, str]:
    """This process's environment without PIPELINEJOBS_* settings, plus ``values``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINEJOBS_")}
    environment.update(values)
    return environment


def start(
    argv: list[str], log_dir: Path, name: str, environment: dict[str, str]
) -> subprocess.Popen[bytes]:
    """A subprocess whose stdout and stderr go to ``log_dir/name.out|.err``."""
    with (log_dir / f"{name}.out").open("wb") as out, (log_dir / f"{name}.err").open("wb") as err:
        return subprocess.Popen(argv, stdout=out, stderr=err, env=environment, cwd=HERE)


def wait_for_output(
    process: subprocess.Popen[bytes], log_dir: Path, name: str, text: str, limit: float = 60.0
) -> None:
    """Until ``text`` appears in the process's stdout or stderr; an error if it exits first."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if text in output(log_dir, name):
            return
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{output(log_dir, name)}")
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not print {text!r} within {limit} s:\n{output(log_dir, name)}")


def output(log_dir: Path, name: str) -> str:
    return "".join(
        (log_dir / f"{name}{suffix}").read_text(errors="replace")
        for suffix in (".out", ".err")
        if (log_dir / f"{name}{suffix}").exists()
    )


def stop(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each, wait for all, SIGKILL what is still running after ``STOP_LIMIT``."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_LIMIT
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def rabbitmq_unreachable() -> str | None:
    """Why RabbitMQ cannot be used (None when it answers)."""
    import aio_pika

    try:
        connection = await aio_pika.connect(AMQP_URL, timeout=5)
    except Exception as exc:
        return f"RabbitMQ not reachable at {AMQP_URL} ({type(exc).__name__}: {exc})"
    await connection.close()
    return None


def machine() -> str:
    """One line saying what the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{os.cpu_count()} cores {cpu}{memory}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; SQLite {_sqlite_version()}"
    )


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version
