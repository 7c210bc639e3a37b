"""Which actors the gateway routes to, by alias or by an Abaco-style actor id.

The documentation's URLs name actors by id (``/actors/v2/G1p783PxpalBB/messages``); a deployment
maps such ids to our aliases (``PIPELINEJOBS_ACTOR_IDS``), so old callback URLs keep working.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipelinejobs.actors.base import Actor
from pipelinejobs.domain.actors import ACTOR_ALIASES
from pipelinejobs.errors import InvalidInput, NotFound


class ActorDirectory:
    """Resolves the ``{actor}`` of a URL to an alias, and finds the actor object if local."""

    def __init__(self, actors: Sequence[Actor], actor_ids: Mapping[str, str]) -> None:
        self._actors = {actor.alias: actor for actor in actors}
        self.aliases: tuple[str, ...] = tuple(sorted({*ACTOR_ALIASES, *self._actors}))
        for actor_id, alias in actor_ids.items():
            if alias not in self.aliases:
                raise InvalidInput(
                    f"actor id {actor_id!r} maps to {alias!r}, which is not an actor; "
                    f"aliases: {', '.join(self.aliases)}"
                )
            if actor_id in self.aliases:
                raise InvalidInput(f"actor id {actor_id!r} is also an alias; choose another id")
        self._ids = dict(actor_ids)

    def resolve(self, name: str) -> str:
        """The alias that ``name`` (an alias or an actor id) stands for."""
        if name in self.aliases:
            return name
        alias = self._ids.get(name)
        if alias is not None:
            return alias
        ids = f" (or their ids {', '.join(sorted(self._ids))})" if self._ids else ""
        raise NotFound(f"no actor {name!r:.80}; send to one of {', '.join(self.aliases)}{ids}")

    def actor_id(self, alias: str) -> str:
        """The id Abaco clients know ``alias`` by: its configured actor id, else the alias."""
        for actor_id, named in sorted(self._ids.items()):
            if named == alias:
                return actor_id
        return alias

    def actor(self, alias: str) -> Actor | None:
        """The actor object when this process has it (for synchronous checks)."""
        return self._actors.get(alias)
