"""``pipelinejobs up`` as a subprocess on a free port, for the end-to-end tests.

``start_up(data_dir)`` starts the console script with ``--port 0`` (the system binds a free port
itself, so no other process can take it between choosing and binding), reads the URL and the
Bearer token from the banner it prints, and waits for ``/readyz``; ``stop()`` sends SIGTERM and
waits for a graceful exit (killing the process if it does not come), so no test leaves a server
behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

AMQP_URL = os.environ.get("PIPELINEJOBS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
STARTUP_LIMIT = 60.0
STOP_LIMIT = 30.0
WALK_LIMIT = 120.0


UP_BANNER = "pipelinejobs is up at "
GATEWAY_BANNER = "pipelinejobs gateway is up at "


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 where nothing answers: bound by this process, never listening, so a
    connection is refused and no other process can take the port meanwhile."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then wait; SIGKILL when the graceful stop does not come. The exit code."""
    return stop_processes([process])[0]


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> list[int]:
    """SIGTERM to each (once: a second one abandons the graceful stop), then wait for all of
    them together for ``STOP_LIMIT`` seconds, SIGKILL those still running. The exit codes."""
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
    return [int(process.returncode) for process in processes]


def banner_url(lines: list[str], prefix: str = UP_BANNER) -> str | None:
    """The URL a server printed in its banner line (None until it has)."""
    for line in lines:
        if line.startswith(prefix):
            return line.removeprefix(prefix).strip()
    return None


def command() -> list[str]:
    """The installed console script, as `make run` calls it."""
    script = Path(sys.executable).with_name("pipelinejobs")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pipelinejobs.cli.main"]


def clean_environment(**values: str) -> dict[str, str]:
    """This process's environment without PIPELINEJOBS_* settings, plus ``values``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINEJOBS_")}
    environment.update(values)
    return environment


@dataclass
class UpProcess:
    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    stdout: Path
    stderr: Path
    environment: dict[str, str]
    token: str = ""
    namespace: str | None = None
    banner: list[str] = field(default_factory=list)

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    def stop(self) -> int:
        """SIGTERM, then wait; kill when the graceful stop does not come. The exit code."""
        return stop_process(self.process)

    def logs(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")


def start_up(
    data_dir: Path | None,
    *,
    bus: str = "embedded",
    args: tuple[str, ...] = (),
    cwd: Path | None = None,
    environment: dict[str, str] | None = None,
) -> UpProcess:
    """Start ``pipelinejobs up --port 0``; return once it is ready and printed its URL and token.

    ``PIPELINEJOBS_PUBLIC_URL`` is not set: callback URLs follow the port the system bound, as
    they do for a user who runs ``pipelinejobs up --port 0``. With ``data_dir=None`` no
    ``--data-dir`` is given: the system runs in ``cwd`` on the default relative ``data``, as
    ``make run`` does in a fresh clone.
    """
    values = {"PIPELINEJOBS_LOG_JSON": "true", **(environment or {})}
    namespace = None
    if bus == "rabbitmq":
        namespace = f"e2e-{uuid.uuid4().hex[:12]}"
        values |= {"PIPELINEJOBS_AMQP_URL": AMQP_URL, "PIPELINEJOBS_BUS_NAMESPACE": namespace}
    env = clean_environment(**values)
    if data_dir is None:
        if cwd is None:
            raise ValueError("give the working directory of a system on the default data dir")
        data_args: list[str] = []
        outputs, data_dir = cwd, cwd / "data"
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        data_args, outputs = ["--data-dir", str(data_dir)], data_dir.parent
    name = uuid.uuid4().hex[:8]
    stdout, stderr = outputs / f"up-{name}.out", outputs / f"up-{name}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [*command(), "up", "--port", "0", *data_args, *args],
            stdout=out,
            stderr=err,
            env=env,
            cwd=cwd,
        )
    up = UpProcess(process, "", data_dir, stdout, stderr, env, namespace=namespace)
    try:
        _wait_ready(up)
    except BaseException:
        up.stop()
        raise
    return up


def _wait_ready(up: UpProcess) -> None:
    deadline = time.monotonic() + STARTUP_LIMIT
    while time.monotonic() < deadline:
        if up.process.poll() is not None:
            raise RuntimeError(f"pipelinejobs up exited with {up.process.returncode}:\n{up.logs()}")
        up.banner = up.stdout.read_text(errors="replace").splitlines()
        url = banner_url(up.banner)
        tokens = [
            line.partition("=")[2]
            for line in up.banner
            if line.startswith("export PIPELINEJOBS_TOKEN=")
        ]
        if url is not None and tokens and _ready(url):
            up.url, up.token = url, tokens[0]
            return
        time.sleep(0.1)
    raise RuntimeError(f"pipelinejobs up was not ready within {STARTUP_LIMIT} s:\n{up.logs()}")


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def delete_namespace(namespace: str) -> None:
    """Remove a test's RabbitMQ queues and exchanges."""
    from pipelinejobs.bus.rabbitmq import RabbitMQBus
    from pipelinejobs.domain.actors import ACTOR_ALIASES

    asyncio.run(RabbitMQBus(AMQP_URL, namespace=namespace, actors=ACTOR_ALIASES).delete_topology())


def wait_for_job(
    client: httpx.Client, uuid: str, done: Any, limit: float = WALK_LIMIT
) -> dict[str, Any]:
    """Poll ``/jobs/{uuid}`` until ``done(job)``; the job then."""
    deadline = time.monotonic() + limit
    while True:
        response = client.get(f"/jobs/{uuid}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if done(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {uuid} did not get there within {limit} s: {job}")
        time.sleep(0.2)


def wait_for_execution(
    client: httpx.Client, actor: str, execution_id: str, limit: float = WALK_LIMIT
) -> dict[str, Any]:
    """Poll an execution until COMPLETE or ERROR; the execution then."""
    deadline = time.monotonic() + limit
    while True:
        response = client.get(f"/actors/v2/{actor}/executions/{execution_id}")
        assert response.status_code == 200, response.text
        execution: dict[str, Any] = response.json()["result"]
        if execution["status"] in ("COMPLETE", "ERROR"):
            return execution
        if time.monotonic() > deadline:
            raise AssertionError(f"execution {execution_id} still {execution['status']}")
        time.sleep(0.1)
