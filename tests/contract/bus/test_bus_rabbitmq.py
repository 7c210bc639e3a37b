"""What only the RabbitMQ bus can show: its topology, routing, reconnection and broker errors."""

from __future__ import annotations

import asyncio
import shutil
import zlib
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage
from bus_helpers import HANG_GUARD, Recorder, envelope
from bus_kit import AMQP_URL, PARTITIONS, rabbitmq_bus
from pipelinejobs.bus._amqp_codec import CONTEXT_HEADER
from pipelinejobs.bus.port import DeadLetter, Delivery, Envelope
from pipelinejobs.bus.rabbitmq import RabbitMQBus
from pipelinejobs.errors import BusUnavailable, Conflict, NotFound

pytestmark = pytest.mark.rabbitmq


async def rabbitmqctl(*args: str) -> str:
    executable = shutil.which("rabbitmqctl")
    assert executable, "rabbitmqctl is needed to drop a connection from the broker side"
    process = await asyncio.create_subprocess_exec(
        executable,
        "-q",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def drop_connection_from_broker(connection_name: str) -> None:
    """What a broker restart does to a client, without restarting the shared broker."""
    listing = await rabbitmqctl(
        "list_connections", "--no-table-headers", "pid", "client_properties"
    )
    pids = [line.split("\t")[0] for line in listing.splitlines() if f'"{connection_name}"' in line]
    assert pids, f"no connection named {connection_name!r} on the broker"
    for pid in pids:
        await rabbitmqctl("close_connection", pid, "test: simulated broker restart")


async def publish_when_back(bus: RabbitMQBus, envelopes: list[Envelope]) -> None:
    async with asyncio.timeout(HANG_GUARD):
        while True:
            try:
                await bus.publish(envelopes)
                return
            except BusUnavailable:
                await asyncio.sleep(0.1)


async def test_an_envelope_lands_in_the_partition_queue_of_its_key(rabbitmq: RabbitMQBus) -> None:
    keys = [f"job-{i}" for i in range(12)]
    await rabbitmq.publish([envelope(key=key, body=key.encode()) for key in keys])

    found: dict[str, int] = {}
    all_found = asyncio.Event()
    async with await aio_pika.connect(AMQP_URL) as connection:  # left unacked: all go back
        channel = await connection.channel()
        for k in range(PARTITIONS):
            queue = await channel.get_queue(rabbitmq.topology.partition_queue("alpha", k))

            async def note(message: AbstractIncomingMessage, k: int = k) -> None:
                found[message.body.decode()] = k
                if len(found) == len(keys):
                    all_found.set()

            await queue.consume(note)
        async with asyncio.timeout(HANG_GUARD):
            await all_found.wait()

    assert found == {key: zlib.crc32(key.encode()) % PARTITIONS for key in keys}


async def test_publish_and_consume_resume_after_the_broker_drops_the_connection(
    rabbitmq: RabbitMQBus,
) -> None:
    in_hand, dropped, all_acked = asyncio.Event(), asyncio.Event(), asyncio.Event()
    acked: list[int] = []
    seen: list[tuple[int, bool]] = []

    async def handle(delivery: Delivery) -> None:
        seq = int(delivery.envelope.body)
        seen.append((seq, delivery.redelivered))
        if seq == 0 and not in_hand.is_set():
            in_hand.set()
            await dropped.wait()
        await delivery.ack()  # raises for the delivery in hand: its channel is gone
        acked.append(seq)
        if len(acked) == 15:
            all_acked.set()

    await rabbitmq.consume("alpha", handle)
    await rabbitmq.publish([envelope(key="job-1", body=str(seq).encode()) for seq in range(10)])
    async with asyncio.timeout(HANG_GUARD):
        await in_hand.wait()

    await drop_connection_from_broker(rabbitmq.connection_name)
    dropped.set()
    await publish_when_back(
        rabbitmq,
        [envelope(key="job-1", body=str(seq).encode()) for seq in range(10, 15)],
    )
    async with asyncio.timeout(HANG_GUARD):
        await all_acked.wait()
    await rabbitmq.ping()

    assert acked == list(range(15))
    assert (0, True) in seen


async def restart_broker() -> None:
    """Stop and start the RabbitMQ application: every connection drops, durable queues stay."""
    try:
        await rabbitmqctl("stop_app")
    finally:
        await rabbitmqctl("start_app")
        await rabbitmqctl("await_startup")


async def test_a_broker_restart_loses_no_message_and_the_consumers_resume(
    rabbitmq: RabbitMQBus,
) -> None:
    before = [envelope("alpha", key=f"job-{n}", body=str(n).encode()) for n in range(5)]
    waiting = [envelope("beta", key=f"job-{n}", body=str(n).encode()) for n in range(5)]
    after = [envelope("alpha", key=f"job-{n}", body=str(n).encode()) for n in range(5, 10)]
    alpha = Recorder()
    await rabbitmq.consume("alpha", alpha)
    await rabbitmq.publish([*before, *waiting])  # beta has no consumer yet: its queue keeps them
    await alpha.wait_until(lambda: len(alpha.settled) == len(before))

    await restart_broker()
    await publish_when_back(rabbitmq, after)
    beta = Recorder()
    await rabbitmq.consume("beta", beta)

    await alpha.wait_until(lambda: len(alpha.settled) == len(before) + len(after))
    await beta.wait_until(lambda: len(beta.settled) == len(waiting))
    await rabbitmq.ping()
    assert set(alpha.settled_ids()) == {e.message_id for e in [*before, *after]}
    assert sorted(beta.settled_ids()) == sorted(e.message_id for e in waiting)


async def test_a_message_the_broker_cannot_route_is_an_error(rabbitmq: RabbitMQBus) -> None:
    message = envelope(key="job-1")
    partition = zlib.crc32(b"job-1") % PARTITIONS
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        await channel.queue_delete(rabbitmq.topology.partition_queue("alpha", partition))

    with pytest.raises(NotFound, match="alpha"):
        await rabbitmq.publish([message])


async def test_a_message_the_bus_cannot_read_is_dead_lettered_not_handled(
    rabbitmq: RabbitMQBus,
) -> None:
    recorder = Recorder()
    await rabbitmq.consume("alpha", recorder)
    after = envelope(key="job-1")
    partition = zlib.crc32(b"job-1") % PARTITIONS
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        await channel.default_exchange.publish(
            aio_pika.Message(b"garbled", message_id="m-1", headers={CONTEXT_HEADER: "{oops"}),
            routing_key=rabbitmq.topology.partition_queue("alpha", partition),
        )
    await rabbitmq.publish([after])  # same partition: handled after the garbled one is settled
    await recorder.wait_settled(after.message_id)

    parked = await rabbitmq.dead_letters("alpha")

    assert recorder.ids() == [after.message_id]
    assert [(p.envelope.body, p.envelope.message_id) for p in parked] == [(b"garbled", "m-1")]
    assert parked[0].reason.startswith(f"unreadable message: {CONTEXT_HEADER}: not JSON")


async def test_dead_letters_outlive_the_process_that_parked_them(
    rabbitmq: RabbitMQBus, namespace: str
) -> None:
    message = envelope(key="job-1", context={"token": "t"})

    async def refuse(delivery: Delivery) -> None:
        await delivery.dead_letter("event not allowed in state FINISHED")

    recorder = Recorder(refuse)
    await rabbitmq.consume("alpha", recorder)
    await rabbitmq.publish([message])
    await recorder.wait_settled(message.message_id)
    await rabbitmq.close()

    later = rabbitmq_bus(namespace)
    await later.start()
    try:
        assert await later.dead_letters("alpha") == [
            DeadLetter(message, "event not allowed in state FINISHED")
        ]
    finally:
        await later.close()


async def test_a_namespace_declared_with_other_queue_arguments_is_a_conflict(
    rabbitmq: RabbitMQBus, namespace: str
) -> None:
    classic = rabbitmq_bus(namespace, queue_type="classic")

    with pytest.raises(Conflict, match="other arguments"):
        await classic.start()


async def test_an_unreachable_broker_is_unavailable_not_skipped() -> None:
    nowhere = RabbitMQBus("amqp://guest:secret@127.0.0.1:1/", connect_timeout=2.0)

    with pytest.raises(BusUnavailable, match="cannot connect") as refused:
        await nowhere.start()
    assert "secret" not in str(refused.value)


async def test_classic_queues_keep_the_same_contract(namespace: str) -> None:
    bus = rabbitmq_bus(f"{namespace}-classic", queue_type="classic")
    try:
        await bus.start()
        message = envelope(key="job-1", context={"event": "run"})

        async def retry_then_refuse(delivery: Delivery) -> None:
            if delivery.attempt == 1:
                await delivery.retry_later(0.1, "store unavailable")
            else:
                await delivery.dead_letter("run not allowed in state FINISHED")

        recorder = Recorder(retry_then_refuse)
        await bus.consume("alpha", recorder)
        await bus.publish([message])
        await recorder.wait_until(lambda: len(recorder.settled) == 2)

        assert [(s.envelope, s.attempt) for s in recorder.seen] == [(message, 1), (message, 2)]
        assert await bus.dead_letters("alpha") == [
            DeadLetter(message, "run not allowed in state FINISHED")
        ]
    finally:
        await bus.close()
        await bus.delete_topology()


def keys_covering(partitions: int, per_partition: int) -> list[str]:
    """Job keys such that every partition queue gets ``per_partition`` of them."""
    found: dict[int, list[str]] = {k: [] for k in range(partitions)}
    n = 0
    while any(len(keys) < per_partition for keys in found.values()):
        key = f"job-{n}"
        bucket = found[zlib.crc32(key.encode()) % partitions]
        if len(bucket) < per_partition:
            bucket.append(key)
        n += 1
    return [key for keys in found.values() for key in keys]


async def test_processes_spread_the_partitions_and_hand_them_on_when_one_leaves(
    namespace: str,
) -> None:
    partitions, interval = 16, 0.3
    buses = [
        rabbitmq_bus(namespace, partitions=partitions, balance_interval=interval) for _ in range(4)
    ]
    handled: dict[int, list[tuple[int, str]]] = {n: [] for n in range(len(buses))}
    progress = asyncio.Event()

    def handler_of(n: int) -> Any:
        async def handle(delivery: Delivery) -> None:
            partition = zlib.crc32((delivery.envelope.partition_key or "").encode()) % partitions
            handled[n].append((partition, delivery.envelope.message_id))
            await delivery.ack()
            progress.set()

        return handle

    async def handled_after(round_keys: list[str]) -> dict[int, set[int]]:
        """Publish one message per key once the members know each other; who took which."""
        for log in handled.values():
            log.clear()
        await asyncio.sleep(4 * interval)  # a beat from everyone, and time to hand over
        sent = [envelope(key=key) for key in round_keys]
        await buses[0].publish(sent)
        ids = {e.message_id for e in sent}
        async with asyncio.timeout(HANG_GUARD):
            while {m for log in handled.values() for _, m in log} != ids:
                progress.clear()
                await progress.wait()
        return {n: {p for p, _ in log} for n, log in handled.items() if log}

    keys = keys_covering(partitions, 3)
    try:
        subscriptions = []
        for n, bus in enumerate(buses):
            await bus.start()
            subscriptions.append(await bus.consume("alpha", handler_of(n)))
        # Warm-up: whoever subscribed first holds every partition until it meets the others.
        await handled_after(keys)

        spread = await handled_after(keys)
        await subscriptions[0].stop()
        after_leave = await handled_after(keys)
    finally:
        for bus in buses:
            await bus.close()
        await buses[0].delete_topology()

    assert sorted(len(p) for p in spread.values()) == [4, 4, 4, 4]
    assert sorted(p for owned in spread.values() for p in owned) == list(range(partitions))
    assert 0 not in after_leave
    assert len(after_leave) == 3
    assert max(len(p) for p in after_leave.values()) <= 6  # ceil(16 / 3)
    assert sorted(p for owned in after_leave.values() for p in owned) == list(range(partitions))
