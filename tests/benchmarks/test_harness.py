"""``make bench`` works: every benchmark runs in quick mode and lands in the report.

Tiny sizes, one round; nothing about speed is asserted (only ``make bench`` measures, as ratios
against baselines run beside ours). A benchmark whose optional tool is missing (Celery comes with
the ``[bench]`` extra) reports itself skipped, saying why, rather than failing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.rabbitmq, pytest.mark.timeout(600)]

HERE = Path(__file__).resolve().parent


def test_the_quick_run_reports_every_benchmark_as_markdown_and_json(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINEJOBS_")}
    environment["BENCH_QUICK"] = "1"
    finished = subprocess.run(
        [sys.executable, str(HERE / "run.py"), "--output", str(tmp_path)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-4000:]

    report = json.loads((tmp_path / "report.json").read_text())
    discovered = sorted(path.stem for path in HERE.glob("bench_*.py"))
    assert sorted(report["benchmarks"]) == discovered
    assert {"bench_throughput", "bench_webhooks", "bench_history"} <= set(discovered)
    assert report["quick"] is True
    assert "cores" in report["machine"]
    for name, section in report["benchmarks"].items():
        rows = section["rows"]
        assert rows, f"{name} reported nothing"
        assert not [row for row in rows if "failed" in row], rows
        measured = [row for row in rows if "skipped" not in row]
        skipped = [row["skipped"] for row in rows if "skipped" in row]
        assert measured or skipped, f"{name}: neither measured nor said why not"

    throughput = {row["case"]: row for row in report["benchmarks"]["bench_throughput"]["rows"]}
    assert "throughput" not in throughput, throughput  # skipped as a whole: RabbitMQ is needed
    for case in ("pipeline x1", "pipeline x2", "bare aio-pika"):
        assert throughput[case]["events/s"] > 0
    assert "celery acks_late" in throughput
    assert throughput["second consumer process adds"]["target"] == ">= 50%"

    markdown = (tmp_path / "report.md").read_text()
    assert f"Machine: {report['machine']}" in markdown
    for name in discovered:
        assert f"### {name.removeprefix('bench_')} (" in markdown
