"""What every bus adapter checks before it accepts envelopes, and how it picks a partition.

Both adapters refuse the same envelopes with the same errors, so the gateway and the actors see
one behaviour whichever bus runs underneath.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import replace

from pipelinejobs.bus.port import Envelope, UnknownActor
from pipelinejobs.errors import InvalidInput

RESERVED_HEADER_PREFIXES: tuple[str, ...] = ("x-", "pipelinejobs-")
"""Header names the bus and the broker use for themselves (attempt, context, death reasons)."""


def check_actors(actors: Sequence[str]) -> tuple[str, ...]:
    """The configured actor aliases, refused when empty, blank or repeated."""
    if not actors:
        raise InvalidInput("actors: at least one actor alias is required")
    for actor in actors:
        if not actor or actor != actor.strip() or any(c.isspace() for c in actor):
            raise InvalidInput(f"actors: {actor!r} is not an alias (non-empty, no whitespace)")
    if len(set(actors)) != len(actors):
        raise InvalidInput(f"actors: aliases must be unique, got {list(actors)}")
    return tuple(actors)


def check_partitions(partitions: int) -> int:
    if not 1 <= partitions <= 256:
        raise InvalidInput(f"partitions: {partitions} is out of range; accepted: 1 to 256")
    return partitions


def check_prefetch(prefetch: int) -> int:
    if not 1 <= prefetch <= 65535:
        raise InvalidInput(f"prefetch: {prefetch} is out of range; accepted: 1 to 65535")
    return prefetch


def check_actor(actor: str, known: Iterable[str]) -> None:
    known = tuple(known)
    if actor not in known:
        raise UnknownActor(actor, known)


def check_envelopes(envelopes: Sequence[Envelope], known_actors: Iterable[str]) -> None:
    """Refuse the whole batch before anything is published when one envelope is unfit."""
    known = tuple(known_actors)
    for envelope in envelopes:
        check_actor(envelope.actor, known)
        if not envelope.message_id:
            raise InvalidInput(f"message_id: empty for a message to {envelope.actor!r}")
        for name in envelope.headers:
            if name.lower().startswith(RESERVED_HEADER_PREFIXES):
                raise InvalidInput(
                    f"headers: {name!r} uses a reserved prefix "
                    f"({', '.join(RESERVED_HEADER_PREFIXES)}); choose another header name"
                )


def partition_for(envelope: Envelope, partitions: int) -> int:
    """Stable across processes and restarts (crc32, not ``hash()``), so one key has one queue."""
    key = envelope.partition_key if envelope.partition_key is not None else envelope.message_id
    return zlib.crc32(key.encode("utf-8")) % partitions


def detached(envelope: Envelope) -> Envelope:
    """A copy whose context and headers no longer alias the publisher's mappings."""
    return replace(envelope, context=dict(envelope.context), headers=dict(envelope.headers))
