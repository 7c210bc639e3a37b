"""The bare baseline: ``bare_consumer.py AMQP_URL QUEUE DATABASE``.

A plain aio-pika consumer of one durable queue: decode the JSON message, make the conditional
durable write (``conditional_write``), ack. Prefetch 16, like our consumers. Prints ``ready`` once
consuming; SIGTERM stops it.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import aio_pika
from conditional_write import apply_update, connect


async def main(url: str, queue_name: str, database: str) -> None:
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=16)
    queue = await channel.declare_queue(queue_name, durable=True)
    db = connect(database)

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        apply_update(db, json.loads(message.body), message.message_id or "")
        await message.ack()

    await queue.consume(on_message)
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await connection.close()
    db.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
