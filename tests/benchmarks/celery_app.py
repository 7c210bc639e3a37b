"""The Celery baseline: one ``acks_late`` task making the conditional durable write.

Configured from the environment the benchmark sets for the worker and for itself:
``BENCH_AMQP_URL`` (the broker), ``BENCH_CELERY_QUEUE`` and ``BENCH_DATABASE``. Publisher
confirms are on, so a published task is durable as our published messages are; no result
backend (results are ignored). The worker prints ``celery-worker-ready`` once it consumes.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery  # type: ignore[import-untyped]
from celery.signals import worker_ready  # type: ignore[import-untyped]
from conditional_write import apply_update, connect

app = Celery("bench", broker=os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1//"))
app.conf.update(
    task_acks_late=True,
    task_ignore_result=True,
    task_default_queue=os.environ.get("BENCH_CELERY_QUEUE", "bench-celery"),
    task_serializer="json",
    worker_prefetch_multiplier=16,
    broker_transport_options={"confirm_publish": True},
    broker_connection_retry_on_startup=True,
)
_connection: Any = None


@app.task(acks_late=True, name="bench.apply_update")
def apply_update_task(message: dict[str, Any], message_id: str) -> None:
    global _connection
    if _connection is None:
        _connection = connect(os.environ["BENCH_DATABASE"])
    apply_update(_connection, message, message_id)


@worker_ready.connect
def _announce(**_: Any) -> None:
    print("celery-worker-ready", flush=True)
