"""Finding a MongoDB server for the contract suite: a URL, a testcontainer, or nx-27017.

Tried in that order; ``find_backend`` raises ``NoBackendError`` when none can be had.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

URL_ENV = "PIPELINEJOBS_TEST_MONGODB_URL"
MODE_ENV = "PIPELINEJOBS_TEST_MONGODB"
STANDIN_START_SECONDS = 15.0


@dataclass(frozen=True)
class MongoBackend:
    url: str
    description: str


class NoBackendError(Exception):
    """No MongoDB server could be reached or started."""


# -- finding a server ------------------------------------------------------------------------
def find_backend(stack: ExitStack, workdir: Path) -> MongoBackend:
    url = os.environ.get(URL_ENV)
    if url:
        return MongoBackend(url, f"{URL_ENV} (MongoDB {_server_version(url, 5.0)})")
    if _docker_answers():
        try:
            return _testcontainer(stack)
        except NoBackendError as error:
            standin = _standin(stack, workdir)
            return MongoBackend(standin.url, f"{standin.description}, because {error}")
    return _standin(stack, workdir)


def _server_version(url: str, timeout: float) -> str:
    """The server's version, or ``NoBackendError`` when it does not answer in time."""
    client: MongoClient[dict[str, object]] = MongoClient(
        url, serverSelectionTimeoutMS=int(timeout * 1000)
    )
    try:
        return str(client.admin.command("buildInfo").get("version", "?"))
    except PyMongoError as error:
        reason = str(error).split(" (configured timeouts")[0][:300]
        raise NoBackendError(f"MongoDB at {url} does not answer: {reason}") from error
    finally:
        client.close()


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        return bool(docker.from_env(timeout=2).ping())
    except Exception:
        return False


def _testcontainer(stack: ExitStack) -> MongoBackend:
    from testcontainers.community.mongodb import MongoDbContainer

    container = MongoDbContainer("mongo:7")
    try:
        container.start()
    except Exception as error:
        raise NoBackendError(f"testcontainers could not start mongo:7: {error}") from error
    stack.callback(container.stop)
    url = container.get_connection_url()
    return MongoBackend(url, f"testcontainers mongo:7 (MongoDB {_server_version(url, 30.0)})")


def _standin(stack: ExitStack, workdir: Path) -> MongoBackend:
    """Start nx-27017 in memory on a free port and wait for its first ping."""
    executable = Path(sys.executable).with_name("nx-27017")
    program = str(executable) if executable.exists() else shutil.which("nx-27017")
    if program is None:
        raise NoBackendError("the nx-27017 stand-in is not installed (pip install nx-27017)")
    port = _free_port()
    log = workdir / "nx-27017.log"
    command = [program, "--host", "127.0.0.1", "-p", str(port), "--db", "memory"]
    command += ["--log-file", str(log), "--pid-file", str(workdir / "nx-27017.pid")]
    output = stack.enter_context((workdir / "output.txt").open("wb"))
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    stack.callback(_stop, process)
    url = f"mongodb://127.0.0.1:{port}/"
    deadline = time.monotonic() + STANDIN_START_SECONDS
    while True:
        if process.poll() is not None:
            text = (workdir / "output.txt").read_text(errors="replace")[-2000:]
            raise NoBackendError(f"nx-27017 exited with {process.returncode}: {text}")
        try:
            _server_version(url, 0.5)
            break
        except NoBackendError:
            if time.monotonic() > deadline:
                raise
    version = metadata.version("nx-27017")
    return MongoBackend(url, f"nx-27017 stand-in {version} on port {port}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
