"""Contract: nonces with Abaco's semantics (scoped, levelled, counted, expiring)."""

from __future__ import annotations

import asyncio

import pytest
from pipelinejobs.errors import Conflict, InvalidInput, NonceRejected
from pipelinejobs.store.port import JSON, Store
from store_samples import nonce

NOW = "2024-05-01T12:00:00+00:00"
EXECUTE = 2


async def redeem(
    store: Store, record: JSON, *, actor: str = "actor-manager", level: int = 2
) -> JSON:
    return await store.redeem_nonce(record["id"], actor=actor, level=level, now=NOW)


async def rejection(store: Store, nonce_id: str, *, actor: str, level: int, now: str) -> str:
    with pytest.raises(NonceRejected) as caught:
        await store.redeem_nonce(nonce_id, actor=actor, level=level, now=now)
    return caught.value.reason


async def test_nonce_saves_reads_lists_and_deletes(store: Store) -> None:
    first = nonce(create_time="2024-05-01T00:00:00Z")
    second = nonce(create_time="2024-05-02T00:00:00Z")
    other = nonce(actor="actor-indexer")
    for record in (second, other, first):
        await store.save_nonce(record)
    assert await store.get_nonce(first["id"]) == first
    assert await store.list_nonces("actor-manager") == [first, second]
    assert await store.list_nonces("actor-nobody") == []
    assert await store.delete_nonce("actor-indexer", first["id"]) is False
    assert await store.delete_nonce("actor-manager", first["id"]) is True
    assert await store.delete_nonce("actor-manager", first["id"]) is False
    assert await store.get_nonce(first["id"]) is None
    assert await store.list_nonces("actor-manager") == [second]


async def test_saving_a_nonce_id_twice_is_a_conflict(store: Store) -> None:
    record = nonce()
    await store.save_nonce(record)
    with pytest.raises(Conflict, match=record["id"]):
        await store.save_nonce(record)


async def test_nonce_with_a_bad_level_is_refused(store: Store) -> None:
    with pytest.raises(InvalidInput, match="level"):
        await store.save_nonce(nonce(level=7))


async def test_redemption_counts_the_use(store: Store) -> None:
    record = nonce(max_uses=3)
    await store.save_nonce(record)
    used = await redeem(store, record)
    assert (used["current_uses"], used["remaining_uses"], used["last_use_time"]) == (1, 2, NOW)
    assert await store.get_nonce(record["id"]) == used


async def test_limited_nonce_is_redeemed_exactly_max_uses_times_under_concurrency(
    store: Store,
) -> None:
    record = nonce(max_uses=7)
    await store.save_nonce(record)
    results = await asyncio.gather(
        *(redeem(store, record) for _ in range(50)), return_exceptions=True
    )
    used = [result for result in results if isinstance(result, dict)]
    refused = [result for result in results if isinstance(result, NonceRejected)]
    assert (len(used), len(refused)) == (7, 43)
    assert sorted(result["current_uses"] for result in used) == list(range(1, 8))
    assert all("no remaining uses" in error.reason for error in refused)
    stored = await store.get_nonce(record["id"])
    assert stored is not None
    assert (stored["current_uses"], stored["remaining_uses"]) == (7, 0)


async def test_unlimited_nonce_always_redeems_and_counts(store: Store) -> None:
    record = nonce(max_uses=-1)
    await store.save_nonce(record)
    results = await asyncio.gather(*(redeem(store, record) for _ in range(30)))
    assert all(result["remaining_uses"] == -1 for result in results)
    stored = await store.get_nonce(record["id"])
    assert stored is not None
    assert (stored["current_uses"], stored["remaining_uses"]) == (30, -1)


async def test_higher_level_nonce_serves_a_lower_level_request(store: Store) -> None:
    record = nonce(level=3)
    await store.save_nonce(record)
    assert (await redeem(store, record, level=1))["current_uses"] == 1


async def test_refusals_name_distinct_reasons(store: Store) -> None:
    valid = nonce(level=EXECUTE, max_uses=1)
    expired = nonce(expires_at="2024-05-01T11:59:59Z")
    used_up = nonce(max_uses=1)
    for record in (valid, expired, used_up):
        await store.save_nonce(record)
    await redeem(store, used_up)
    reasons = {
        "does not exist": await rejection(
            store, "SD2E_unknown", actor="actor-manager", level=1, now=NOW
        ),
        "another actor": await rejection(
            store, valid["id"], actor="actor-indexer", level=1, now=NOW
        ),
        "needs UPDATE": await rejection(
            store, valid["id"], actor="actor-manager", level=3, now=NOW
        ),
        "expired": await rejection(store, expired["id"], actor="actor-manager", level=1, now=NOW),
        "no remaining uses": await rejection(
            store, used_up["id"], actor="actor-manager", level=1, now=NOW
        ),
    }
    for words, reason in reasons.items():
        assert words in reason
    assert len(set(reasons.values())) == len(reasons)
    stored = await store.get_nonce(valid["id"])
    assert stored is not None
    assert stored["current_uses"] == 0


async def test_nonce_is_valid_until_it_expires(store: Store) -> None:
    record = nonce(expires_at="2024-05-01T13:00:00Z")
    await store.save_nonce(record)
    assert (await redeem(store, record))["current_uses"] == 1
    reason = await rejection(
        store, record["id"], actor="actor-manager", level=1, now="2024-05-01T13:00:01+00:00"
    )
    assert "expired" in reason


async def test_nonce_counts_beyond_64_bits_are_refused(store: Store) -> None:
    with pytest.raises(InvalidInput, match="max_uses"):
        await store.save_nonce(nonce(max_uses=10**30))


# -- refunds: a use given back by a request that was not accepted ----------------------------
async def test_refund_gives_a_counted_use_back(store: Store) -> None:
    record = nonce(max_uses=1)
    await store.save_nonce(record)
    await redeem(store, record)

    refunded = await store.refund_nonce(record["id"], actor="actor-manager")

    assert refunded is not None
    assert (refunded["current_uses"], refunded["remaining_uses"]) == (0, 1)
    assert await store.get_nonce(record["id"]) == refunded
    assert (await redeem(store, record))["remaining_uses"] == 0
    reason = await rejection(store, record["id"], actor="actor-manager", level=2, now=NOW)
    assert "no remaining uses" in reason


async def test_refund_of_an_unlimited_nonce_uncounts_the_use(store: Store) -> None:
    record = nonce(max_uses=-1)
    await store.save_nonce(record)
    await redeem(store, record)
    await redeem(store, record)

    refunded = await store.refund_nonce(record["id"], actor="actor-manager")

    assert refunded is not None
    assert (refunded["current_uses"], refunded["remaining_uses"]) == (1, -1)


async def test_refund_without_a_counted_use_gives_nothing_back(store: Store) -> None:
    unused = nonce(max_uses=2)
    used = nonce(max_uses=2)
    for record in (unused, used):
        await store.save_nonce(record)
    await redeem(store, used)

    assert await store.refund_nonce(unused["id"], actor="actor-manager") is None
    assert await store.refund_nonce(used["id"], actor="actor-indexer") is None
    assert await store.refund_nonce("SD2E_unknown", actor="actor-manager") is None
    assert await store.get_nonce(unused["id"]) == unused
    stored = await store.get_nonce(used["id"])
    assert stored is not None
    assert (stored["current_uses"], stored["remaining_uses"]) == (1, 1)


async def test_racing_redemptions_and_refunds_never_hold_more_than_max_uses(
    store: Store,
) -> None:
    """Each request redeems; every other one is then 'not accepted' and refunds its use."""
    record = nonce(max_uses=3)
    await store.save_nonce(record)
    held = {"now": 0, "most": 0, "accepted": 0}

    async def request(number: int) -> None:
        try:
            await redeem(store, record)
        except NonceRejected:
            return
        held["now"] += 1
        held["most"] = max(held["most"], held["now"])
        if number % 2:
            held["now"] -= 1  # counted as released before the store releases it
            assert await store.refund_nonce(record["id"], actor="actor-manager") is not None
        else:
            held["accepted"] += 1

    await asyncio.gather(*(request(number) for number in range(40)))

    stored = await store.get_nonce(record["id"])
    assert stored is not None
    assert held["most"] <= 3
    assert held["accepted"] == stored["current_uses"] <= 3
    assert stored["current_uses"] + stored["remaining_uses"] == 3
