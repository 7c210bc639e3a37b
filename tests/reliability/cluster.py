"""A gateway process and jobs-manager processes on RabbitMQ, sharing one data directory.

The processes are the installed ``pipelinejobs gateway`` and ``pipelinejobs actor`` commands,
each with its stderr (JSON process logs) in its own file, so a test can kill one (SIGKILL, no
goodbye), start another, restart the gateway on the same port, drop their broker connections
from the broker side (``rabbitmqctl close_connection``, never a broker restart) and count their
log lines by level.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pipelinejobs_up import (
    AMQP_URL,
    GATEWAY_BANNER,
    banner_url,
    clean_environment,
    command,
    delete_namespace,
    stop_processes,
)

START_LIMIT = 60.0
RABBITMQCTL_LIMIT = 60.0


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def levels(self) -> Counter[str]:
        """How many JSON log lines of each level this process wrote."""
        counted: Counter[str] = Counter()
        for line in self.stderr.read_text(errors="replace").splitlines():
            try:
                counted[str(json.loads(line).get("level"))] += 1
            except ValueError:
                counted["unparsed"] += 1
        return counted

    def lines(self, level: str) -> list[str]:
        found = []
        for line in self.stderr.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("level") == level:
                found.append(f"{entry.get('logger', 'pipelinejobs')}: {entry.get('event')}")
        return found


@dataclass
class Cluster:
    folder: Path
    namespace: str = field(default_factory=lambda: f"reliability-{uuid.uuid4().hex[:12]}")
    processes: list[Process] = field(default_factory=list)
    url: str = ""
    port: int = 0

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    def environment(self) -> dict[str, str]:
        values = {
            "PIPELINEJOBS_AMQP_URL": AMQP_URL,
            "PIPELINEJOBS_BUS_NAMESPACE": self.namespace,
            "PIPELINEJOBS_DATA_DIR": str(self.data_dir),
            "PIPELINEJOBS_LOG_JSON": "true",
            "PIPELINEJOBS_BUS_BALANCE_INTERVAL": "1",
            "PIPELINEJOBS_EXAMPLE_APPS": "false",
        }
        if self.url:
            values["PIPELINEJOBS_PUBLIC_URL"] = self.url
        return clean_environment(**values)

    def _spawn(self, name: str, args: list[str]) -> Process:
        index = len(self.processes)
        out, err = self.folder / f"{index}-{name}.out", self.folder / f"{index}-{name}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            popen = subprocess.Popen(
                [*command(), *args], env=self.environment(), stdout=stdout, stderr=stderr
            )
        process = Process(name, popen, out, err)
        self.processes.append(process)
        return process

    def start_gateway(self) -> Process:
        """The gateway, on the port it had before (a restart) or a free one."""
        process = self._spawn("gateway", ["gateway", "--port", str(self.port)])
        _wait(lambda: banner_url(_text(process.stdout).splitlines(), GATEWAY_BANNER), process)
        url = str(banner_url(_text(process.stdout).splitlines(), GATEWAY_BANNER))
        self.url, self.port = url, int(url.rsplit(":", 1)[1])
        _wait(lambda: _ready(url), process)
        return process

    def start_actor(self, alias: str = "jobs-manager") -> Process:
        process = self._spawn(alias, ["actor", alias])
        _wait(lambda: "actor consuming" in _text(process.stderr), process)
        return process

    def kill(self, process: Process) -> None:
        """SIGKILL: the process gets no chance to ack, nack or say goodbye."""
        process.popen.send_signal(signal.SIGKILL)
        process.popen.wait()

    def running(self) -> list[Process]:
        return [p for p in self.processes if p.popen.poll() is None]

    def drop_connections(self) -> int:
        """Close every broker connection of this cluster's processes from the broker side (what
        a broker restart does to them, without restarting the broker everyone shares)."""
        listing = rabbitmqctl("list_connections", "--no-table-headers", "pid", "client_properties")
        pids = [line.split("\t")[0] for line in listing.splitlines() if self.namespace in line]
        for pid in pids:
            rabbitmqctl("close_connection", pid, "reliability test: connection dropped")
        return len(pids)

    def stop(self) -> list[int]:
        """SIGTERM to every running process (graceful), then the namespace's queues go."""
        try:
            return stop_processes([p.popen for p in self.running()])
        finally:
            delete_namespace(self.namespace)


def rabbitmqctl(*args: str) -> str:
    executable = shutil.which("rabbitmqctl")
    assert executable, "rabbitmqctl is needed to drop a connection from the broker side"
    done = subprocess.run(
        [executable, "-q", *args], capture_output=True, timeout=RABBITMQCTL_LIMIT, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _wait(condition: Callable[[], object], process: Process) -> None:
    deadline = time.monotonic() + START_LIMIT
    while not condition():
        if process.popen.poll() is not None:
            raise AssertionError(f"{process.name} exited:\n{_text(process.stderr)[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{process.name} not ready in {START_LIMIT} s")
        time.sleep(0.1)
