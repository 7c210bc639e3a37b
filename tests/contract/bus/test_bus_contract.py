"""The bus contract (``pipelinejobs.bus.port``), run on the in-process bus and on RabbitMQ."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict

import pytest
from bus_helpers import HANG_GUARD, Recorder, Seen, envelope
from bus_kit import BusKit
from pipelinejobs.bus.port import PROTOBUF_CONTENT_TYPE, Bus, DeadLetter, Delivery, Subscription
from pipelinejobs.errors import BusUnavailable, Conflict, InvalidInput, NotFound


async def only_next_is(bus: Bus, marker_key: str) -> list[str]:
    """Publish a marker on ``marker_key`` and return what a new subscription sees up to it.

    Same key, same partition, delivered in order: anything still queued for that key (an
    unacked or redelivered message) would come before the marker.
    """
    marker = envelope(key=marker_key, body=b'"marker"')
    recorder = Recorder()
    subscription = await bus.consume("alpha", recorder)
    await bus.publish([marker])
    await recorder.wait_settled(marker.message_id)
    await subscription.stop()
    return recorder.settled_ids()


async def test_round_trip_preserves_every_envelope_field(bus: Bus) -> None:
    full = envelope(
        key="107acb4d-1f93-553a-9e1c-b7b58125bc89",
        body=b"\x00\x01\xfe\xff binary \xe2\x9c\x93",
        content_type=PROTOBUF_CONTENT_TYPE,
        message_type="pipelinejobs.JobEvent",
        context={"uuid": "107acb4d", "event": "finish", "note": "naïve ✓", "empty": ""},
        headers={"execution_id": "e-1", "sender": "tacc-user"},
    )
    bare = envelope(key=None, body=b'{"name": "x"}')
    recorder = Recorder()
    await bus.consume("alpha", recorder)

    await bus.publish([full, bare])
    await recorder.wait_until(lambda: len(recorder.settled) == 2)

    by_id = {seen.envelope.message_id: seen for seen in recorder.seen}
    assert by_id[full.message_id] == Seen(full, attempt=1, redelivered=False)
    assert by_id[bare.message_id] == Seen(bare, attempt=1, redelivered=False)
    assert by_id[bare.message_id].envelope.content_type == "application/json"


async def test_messages_reach_only_their_actor(bus: Bus) -> None:
    to_alpha, to_beta = envelope("alpha", key="k"), envelope("beta", key="k")
    alpha, beta = Recorder(), Recorder()
    await bus.consume("alpha", alpha)
    await bus.consume("beta", beta)

    await bus.publish([to_alpha, to_beta])
    await alpha.wait_settled(to_alpha.message_id)
    await beta.wait_settled(to_beta.message_id)

    assert alpha.ids() == [to_alpha.message_id]
    assert beta.ids() == [to_beta.message_id]


async def test_an_acked_message_is_not_delivered_again(bus: Bus) -> None:
    message = envelope(key="job-1")
    recorder = Recorder()
    subscription = await bus.consume("alpha", recorder)
    await bus.publish([message])
    await recorder.wait_settled(message.message_id)
    await subscription.stop()

    seen_next = await only_next_is(bus, "job-1")

    assert recorder.ids() == [message.message_id]
    assert len(seen_next) == 1
    assert seen_next[0] != message.message_id


async def test_a_handler_that_raises_gets_the_message_again_until_it_acks(bus: Bus) -> None:
    message = envelope(key="job-1", context={"token": "abc"})

    async def fails_first(delivery: Delivery) -> None:
        if not delivery.redelivered:
            raise RuntimeError("store unavailable")
        await delivery.ack()

    recorder = Recorder(fails_first)
    subscription = await bus.consume("alpha", recorder)
    await bus.publish([message])
    await recorder.wait_settled(message.message_id)
    await subscription.stop()

    assert recorder.seen == [Seen(message, 1, False), Seen(message, 1, True)]
    assert recorder.settled == [Seen(message, 1, True)]
    assert len(await only_next_is(bus, "job-1")) == 1


async def test_a_handler_that_returns_without_settling_gets_the_message_again(
    bus: Bus,
) -> None:
    message = envelope(key="job-1")

    async def forgets_first(delivery: Delivery) -> None:
        if delivery.redelivered:
            await delivery.ack()

    recorder = Recorder(forgets_first)
    await bus.consume("alpha", recorder)
    await bus.publish([message])
    await recorder.wait_until(lambda: len(recorder.seen) == 2)

    assert recorder.seen == [Seen(message, 1, False), Seen(message, 1, True)]


async def test_a_failed_delivery_keeps_the_order_of_its_key(bus: Bus) -> None:
    messages = [envelope(key="job-1", body=str(seq).encode()) for seq in range(30)]
    failed: set[int] = set()

    async def fails_once_on_3(delivery: Delivery) -> None:
        seq = int(delivery.envelope.body)
        if seq == 3 and seq not in failed:
            failed.add(seq)
            raise RuntimeError("store unavailable")
        await delivery.ack()

    recorder = Recorder(fails_once_on_3)
    await bus.publish(messages)  # queued first, so the broker sends ahead (prefetch)
    await bus.consume("alpha", recorder, prefetch=16)
    await recorder.wait_until(lambda: len(recorder.settled) == 30)

    assert [int(s.envelope.body) for s in recorder.seen] == [0, 1, 2, 3, *range(3, 30)]
    assert [int(s.envelope.body) for s in recorder.settled] == list(range(30))


async def test_dead_letters_keep_their_reasons_oldest_first_and_stay(bus: Bus) -> None:
    first = envelope(key="job-1", context={"event": "run"}, headers={"sender": "abaco"})
    second = envelope(key="job-2", message_type="pipelinejobs.JobEvent")
    reasons = {first.message_id: "bad token for job", second.message_id: "run not allowed"}

    async def refuse(delivery: Delivery) -> None:
        await delivery.dead_letter(reasons[delivery.envelope.message_id])

    recorder = Recorder(refuse)
    subscription = await bus.consume("alpha", recorder)
    await bus.publish([first])
    await recorder.wait_settled(first.message_id)
    await bus.publish([second])
    await recorder.wait_settled(second.message_id)
    await subscription.stop()

    expected = [
        DeadLetter(first, "bad token for job"),
        DeadLetter(second, "run not allowed"),
    ]
    assert await bus.dead_letters("alpha") == expected
    assert await bus.dead_letters("alpha") == expected
    assert await bus.dead_letters("beta") == []
    assert len(await only_next_is(bus, "job-1")) == 1


@pytest.mark.parametrize("delay", [0.2, 0.0])
async def test_retry_later_redelivers_the_same_envelope_with_the_next_attempt(
    bus: Bus, delay: float
) -> None:
    message = envelope(key="job-1", context={"uuid": "u"}, headers={"sender": "s"})

    async def retry_first(delivery: Delivery) -> None:
        if delivery.attempt == 1:
            await delivery.retry_later(delay, "store unavailable")
        else:
            await delivery.ack()

    recorder = Recorder(retry_first)
    await bus.consume("alpha", recorder)
    await bus.publish([message])
    await recorder.wait_until(lambda: len(recorder.settled) == 2)

    assert recorder.seen == [Seen(message, 1, False), Seen(message, 2, False)]


async def test_a_retry_keeps_the_order_of_its_key(bus: Bus) -> None:
    messages = [envelope(key="job-1", body=str(seq).encode()) for seq in range(10)]

    async def retries_3_once(delivery: Delivery) -> None:
        if delivery.envelope.body == b"3" and delivery.attempt == 1:
            await delivery.retry_later(0.3, "store unavailable")
        else:
            await delivery.ack()

    recorder = Recorder(retries_3_once)
    await bus.publish(messages)  # queued first, so the broker sends ahead (prefetch)
    await bus.consume("alpha", recorder, prefetch=16)
    await recorder.wait_until(lambda: len(recorder.settled) == 11)

    assert [(int(s.envelope.body), s.attempt) for s in recorder.seen] == [
        (0, 1),
        (1, 1),
        (2, 1),
        (3, 1),
        (3, 2),
        *((seq, 1) for seq in range(4, 10)),
    ]


async def test_retries_count_every_attempt(bus: Bus) -> None:
    message = envelope(key="job-1")

    async def retry_twice(delivery: Delivery) -> None:
        if delivery.attempt < 3:
            await delivery.retry_later(0.1, f"attempt {delivery.attempt} failed")
        else:
            await delivery.dead_letter("gave up after 3 attempts")

    recorder = Recorder(retry_twice)
    await bus.consume("alpha", recorder)
    await bus.publish([message])
    await recorder.wait_until(lambda: len(recorder.settled) == 3)

    assert [s.attempt for s in recorder.seen] == [1, 2, 3]
    assert await bus.dead_letters("alpha") == [DeadLetter(message, "gave up after 3 attempts")]


async def test_each_key_is_handled_in_publish_order_by_several_consumers(kit: BusKit) -> None:
    bus, keys, per_key = kit.bus, [f"job-{i}" for i in range(20)], 50
    handled: dict[str, list[int]] = defaultdict(list)
    in_flight: Counter[str] = Counter()
    overlapping: list[str] = []
    third_done = asyncio.Event()
    all_done = asyncio.Event()

    async def handle(delivery: Delivery) -> None:
        key = delivery.envelope.partition_key or ""
        in_flight[key] += 1
        if in_flight[key] > 1:
            overlapping.append(key)
        seq = int(delivery.envelope.body)
        # Uneven handling times, so any handler running out of turn would show.
        await asyncio.sleep(0.002 if (seq + len(key)) % 4 == 0 else 0)
        in_flight[key] -= 1
        await delivery.ack()
        handled[key].append(seq)
        total = sum(len(v) for v in handled.values())
        if total >= len(keys) * per_key // 3:
            third_done.set()
        if total >= len(keys) * per_key:
            all_done.set()

    peer = await kit.peer()
    first = await bus.consume("alpha", handle)
    await peer.consume("alpha", handle)
    await bus.consume("alpha", handle)
    for start in range(0, per_key, 10):
        await bus.publish(
            [
                envelope(key=key, body=str(seq).encode())
                for seq in range(start, start + 10)
                for key in keys
            ]
        )
    async with asyncio.timeout(HANG_GUARD):
        await third_done.wait()
        await first.stop()  # its partitions move to the next consumers mid-stream
        await all_done.wait()

    assert overlapping == []
    assert {key: handled[key] for key in keys} == {key: list(range(per_key)) for key in keys}


async def test_publishing_to_an_unknown_actor_is_refused_whole(bus: Bus) -> None:
    with pytest.raises(NotFound, match="gamma"):
        await bus.publish([envelope("gamma")])
    kept = envelope("alpha", key="job-1")
    with pytest.raises(NotFound, match="known actors: alpha, beta"):
        await bus.publish([kept, envelope("gamma")])

    assert kept.message_id not in await only_next_is(bus, "job-1")


async def test_unknown_actors_cannot_be_consumed_or_inspected(bus: Bus) -> None:
    with pytest.raises(NotFound, match="gamma"):
        await bus.consume("gamma", Recorder())
    with pytest.raises(NotFound, match="gamma"):
        await bus.dead_letters("gamma")


async def test_headers_may_not_use_the_bus_reserved_prefixes(bus: Bus) -> None:
    for name in ("x-death-reason", "pipelinejobs-attempt"):
        with pytest.raises(InvalidInput, match=name):
            await bus.publish([envelope(headers={name: "1"})])


async def test_a_delivery_is_settled_exactly_once(bus: Bus) -> None:
    outcome: list[BaseException] = []

    async def ack_twice(delivery: Delivery) -> None:
        await delivery.ack()
        try:
            await delivery.dead_letter("again")
        except Conflict as exc:
            outcome.append(exc)

    recorder = Recorder(ack_twice)
    await bus.consume("alpha", recorder)
    message = envelope(key="job-1")
    await bus.publish([message])
    await recorder.wait_settled(message.message_id)

    assert len(outcome) == 1
    assert "already settled by ack" in str(outcome[0])
    assert await bus.dead_letters("alpha") == []


async def test_graceful_stop_waits_for_the_handler_in_flight(bus: Bus) -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    finished: list[str] = []

    async def slow(delivery: Delivery) -> None:
        entered.set()
        await release.wait()
        await delivery.ack()
        finished.append(delivery.envelope.message_id)

    subscription = await bus.consume("alpha", slow)
    message = envelope(key="job-1")
    await bus.publish([message])
    async with asyncio.timeout(HANG_GUARD):
        await entered.wait()
    stopping = asyncio.create_task(subscription.stop())
    await asyncio.sleep(0.1)

    assert not stopping.done()
    release.set()
    await stopping
    assert finished == [message.message_id]
    assert message.message_id not in await only_next_is(bus, "job-1")


async def test_a_key_waits_for_its_message_in_flight_while_consumers_hand_over(
    kit: BusKit,
) -> None:
    bus, first, second = kit.bus, envelope(key="job-1"), envelope(key="job-1")
    entered, release = asyncio.Event(), asyncio.Event()
    events: list[str] = []

    async def slow(delivery: Delivery) -> None:
        entered.set()
        await release.wait()
        events.append(f"finished {delivery.envelope.message_id}")
        await delivery.ack()

    async def record(delivery: Delivery) -> None:
        events.append(f"started {delivery.envelope.message_id}")
        await delivery.ack()

    leaving = await bus.consume("alpha", slow)
    taking_over = Recorder(record)
    await (await kit.peer()).consume("alpha", taking_over)
    await bus.publish([first, second])
    async with asyncio.timeout(HANG_GUARD):
        await entered.wait()
    stopping = asyncio.create_task(leaving.stop())
    await asyncio.sleep(0.1)  # room for a wrong hand-over to start the second one early
    release.set()
    await stopping
    await taking_over.wait_settled(second.message_id)

    assert events == [f"finished {first.message_id}", f"started {second.message_id}"]


async def test_a_consumer_gone_mid_message_leaves_it_to_another(kit: BusKit) -> None:
    bus, message = kit.bus, envelope(key="job-1")
    entered = asyncio.Event()

    async def stuck(delivery: Delivery) -> None:
        entered.set()
        await asyncio.Event().wait()  # never settles: its process is about to die

    gone: Subscription = await bus.consume("alpha", stuck)
    survivor = Recorder()
    await (await kit.peer()).consume("alpha", survivor)
    await bus.publish([message])
    async with asyncio.timeout(HANG_GUARD):
        await entered.wait()

    await gone.stop(grace=0)  # type: ignore[call-arg]  # adapters' abort: handlers cancelled
    await survivor.wait_settled(message.message_id)

    assert survivor.seen == [Seen(message, 1, True)]


async def test_ping_answers_while_started_and_refuses_after_close(bus: Bus) -> None:
    await bus.ping()
    await bus.close()

    with pytest.raises(BusUnavailable):
        await bus.ping()
    with pytest.raises(BusUnavailable):
        await bus.publish([envelope()])


async def test_a_bus_not_started_refuses_to_publish(kit: BusKit) -> None:
    unstarted = kit.unstarted()

    with pytest.raises(BusUnavailable, match="start"):
        await unstarted.publish([envelope()])
    with pytest.raises(BusUnavailable, match="start"):
        await unstarted.ping()
