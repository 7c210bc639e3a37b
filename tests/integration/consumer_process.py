"""A jobs-manager consumer for the kill test: ``consumer_process.py DATA_DIR NS DELAY [WHEN]``.

It wraps the real jobs-manager so each message waits ``DELAY`` seconds, ``before`` it is applied
(the default) or ``after`` (the event is written, the delivery not yet acked). It prints
``ready`` once consuming, ``handling <message id>`` when a message arrives and ``applied`` once
its event is durable (the store's write returned: the batch's commit, or the single append),
so the test knows when to kill it mid-message.
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
        return await super().handle(message, ctx)


def pause_after_writes(store: Any, delay: float) -> None:
    """Each event-log write of ``store`` returns only after printing ``applied`` and waiting
    ``delay`` seconds: durable, not yet acked."""
    for name in ("commit", "append_event"):
        write = getattr(store, name)

        async def paused(*args: Any, _write: Any = write, **kwargs: Any) -> Any:
            result = await _write(*args, **kwargs)
            print("applied", flush=True)
            await asyncio.sleep(delay)
            return result

        setattr(store, name, paused)


async def main(data_dir: Path, namespace: str, delay: float, when: str) -> None:
    settings = Settings(
        data_dir=data_dir,
        amqp_url="amqp://guest:guest@127.0.0.1:5672/",
        bus_namespace=namespace,
    )
    storage = LocalStorage(data_dir / "storage")
    actors = [SlowJobsManager(storage, delay, when)]
    system = build_system(settings, actors=actors, storage=storage)
    if when == "after":
        pause_after_writes(system.store, delay)
    await system.start()
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await system.close()


if __name__ == "__main__":
    when = sys.argv[4] if len(sys.argv) > 4 else "before"
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), when))
