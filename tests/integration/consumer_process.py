"""A jobs-manager consumer for the kill test: ``consumer_process.py DATA_DIR NS DELAY [WHEN]``.

It wraps the real jobs-manager so each message waits ``DELAY`` seconds, ``before`` it is applied
(the default) or ``after`` (the event is written, the delivery not yet acked). It prints
``ready`` once consuming, ``handling <message id>`` when a message arrives and ``applied <message
id>`` once its event is written, so the test knows when to kill it mid-message.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelinejobs.actors.base import ActorContext, Message
from pipelinejobs.actors.jobs_manager import JobsManager
from pipelinejobs.host.bootstrap import build_system
from pipelinejobs.settings import Settings
from pipelinejobs.storage.local import LocalStorage


class SlowJobsManager(JobsManager):
    def __init__(self, storage: LocalStorage, delay: float, when: str) -> None:
        super().__init__(storage=storage)
        self.delay = delay
        self.when = when

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        print(f"handling {message.message_id}", flush=True)
        if self.when == "before":
            await asyncio.sleep(self.delay)
        result = await super().handle(message, ctx)
        print(f"applied {message.message_id}", flush=True)
        if self.when == "after":
            await asyncio.sleep(self.delay)
        return result


async def main(data_dir: Path, namespace: str, delay: float, when: str) -> None:
    settings = Settings(
        data_dir=data_dir,
        amqp_url="amqp://guest:guest@127.0.0.1:5672/",
        bus_namespace=namespace,
    )
    storage = LocalStorage(data_dir / "storage")
    actors = [SlowJobsManager(storage, delay, when)]
    system = build_system(settings, actors=actors, storage=storage)
    await system.start()
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await system.close()


if __name__ == "__main__":
    when = sys.argv[4] if len(sys.argv) > 4 else "before"
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), when))
