"""Creating nonces (the helper the CLI calls) and their levels."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pipelinejobs.domain.nonces import level_of
from pipelinejobs.errors import InvalidInput
from pipelinejobs.gateway import Level, create_nonce
from pipelinejobs.store.sqlite import SQLiteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "store.db")
    await store.start()
    yield store
    await store.close()


@pytest.mark.parametrize(
    ("value", "level"),
    [("EXECUTE", Level.EXECUTE), ("read", Level.READ), (3, Level.UPDATE), ("0", Level.NONE)],
)
def test_levels_by_name_or_number(value: str | int, level: Level) -> None:
    assert level_of(value) is level


@pytest.mark.parametrize("value", ["ROOT", 4, -1, ""])
def test_unknown_levels_list_the_accepted(value: str | int) -> None:
    with pytest.raises(InvalidInput, match="NONE, READ, EXECUTE, UPDATE"):
        level_of(value)


async def test_created_nonce_is_stored_and_shown_in_abaco_fields(store: SQLiteStore) -> None:
    nonce = await create_nonce(store, "jobs-manager", "alice", "EXECUTE", 5, "callbacks", 60)

    assert nonce["id"].startswith("PJ_")
    assert (nonce["level"], nonce["maxUses"], nonce["remainingUses"]) == ("EXECUTE", 5, 5)
    assert nonce["expiresAt"] > nonce["createTime"]
    stored = await store.get_nonce(nonce["id"])
    assert stored is not None
    assert (stored["actor"], stored["owner"], stored["level"]) == ("jobs-manager", "alice", 2)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"max_uses": 0}, "maxUses"),
        ({"max_uses": -5}, "maxUses"),
        ({"max_uses": True}, "maxUses"),
        ({"expires_in": 0}, "expiresIn"),
        ({"description": "x" * 1001}, "description"),
        ({"level": "ROOT"}, "level"),
    ],
)
async def test_creation_refuses_bad_values(
    store: SQLiteStore, kwargs: dict[str, object], needle: str
) -> None:
    with pytest.raises(InvalidInput, match=needle):
        await create_nonce(store, "jobs-manager", "alice", **kwargs)  # type: ignore[arg-type]
