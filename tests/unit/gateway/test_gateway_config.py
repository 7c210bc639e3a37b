"""Gateway settings from the environment, and the actor directory they configure."""

from __future__ import annotations

import pytest
from pipelinejobs.errors import InvalidInput, NotFound
from pipelinejobs.gateway import ActorDirectory, GatewaySettings
from pydantic import ValidationError


def test_environment_sets_actor_ids_and_a_comma_list_of_admins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PIPELINEJOBS_ACTOR_IDS", '{"G1p783PxpalBB": "jobs-manager"}')
    monkeypatch.setenv("PIPELINEJOBS_ADMIN_USERS", "carol, dave,,")

    settings = GatewaySettings()

    assert settings.actor_ids == {"G1p783PxpalBB": "jobs-manager"}
    assert settings.admin_users == ["carol", "dave"]
    assert not settings.oidc_enabled


def test_half_an_oidc_configuration_is_refused() -> None:
    with pytest.raises(ValidationError, match="oidc_jwks_url"):
        GatewaySettings(oidc_issuer="https://idp.example.org")


def test_symmetric_oidc_algorithms_are_refused() -> None:
    with pytest.raises(ValidationError, match="HS256"):
        GatewaySettings(oidc_algorithms=["RS256", "HS256"])


def test_directory_resolves_aliases_and_ids() -> None:
    directory = ActorDirectory([], {"G1p783PxpalBB": "jobs-manager"})

    assert directory.resolve("jobs-indexer") == "jobs-indexer"
    assert directory.resolve("G1p783PxpalBB") == "jobs-manager"
    with pytest.raises(NotFound, match="G1p783PxpalBB") as refused:
        directory.resolve("G46vjoAVzGkkz")
    assert "pipelines-manager" in str(refused.value)


def test_directory_refuses_ids_for_unknown_aliases_or_that_shadow_one() -> None:
    with pytest.raises(InvalidInput, match="not an actor"):
        ActorDirectory([], {"X1": "no-such-actor"})
    with pytest.raises(InvalidInput, match="also an alias"):
        ActorDirectory([], {"jobs-indexer": "jobs-manager"})
