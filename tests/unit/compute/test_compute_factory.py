"""The compute factory: an Agave client when a URL is configured, else the local system."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pipelinejobs.compute.agave import AgaveClient
from pipelinejobs.compute.apps import EXAMPLE_MANIFESTS, TACOBOT_ID, WORDCOUNT_ID
from pipelinejobs.compute.factory import ComputeSettings, create_compute
from pipelinejobs.compute.local import LocalExecutionSystem
from pipelinejobs.errors import InvalidInput
from pipelinejobs.settings import Settings
from pipelinejobs.storage.local import LocalStorage
from pydantic import SecretStr


def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, archive_system="data-projects")


async def test_without_a_compute_url_jobs_run_locally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PIPELINEJOBS_COMPUTE_URL", raising=False)
    compute = create_compute(settings(tmp_path), LocalStorage(tmp_path / "storage"))
    assert isinstance(compute, LocalExecutionSystem)
    assert compute.registry.apps_dir == tmp_path / "apps"
    assert compute.archive_system_default == "data-projects"
    await compute.close()


async def test_a_compute_url_and_token_from_the_environment_give_an_agave_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINEJOBS_COMPUTE_URL", "https://api.example.org/")
    monkeypatch.setenv("PIPELINEJOBS_COMPUTE_TOKEN", "s3cr3t-token")
    compute = create_compute(settings(tmp_path), LocalStorage(tmp_path / "storage"))
    assert isinstance(compute, AgaveClient)
    assert compute.base_url == "https://api.example.org"
    assert "s3cr3t" not in repr(compute)
    await compute.close()


def test_a_compute_url_without_a_token_is_refused(tmp_path: Path) -> None:
    options = ComputeSettings(compute_url="https://api.example.org")
    with pytest.raises(InvalidInput, match="PIPELINEJOBS_COMPUTE_TOKEN is required"):
        create_compute(settings(tmp_path), LocalStorage(tmp_path), options)


@pytest.mark.parametrize("url", ["ftp://api.example.org", "api.example.org", "https://"])
def test_a_compute_url_must_be_http(tmp_path: Path, url: str) -> None:
    options = ComputeSettings(compute_url=url, compute_token=SecretStr("t"))
    with pytest.raises(InvalidInput, match="http"):
        create_compute(settings(tmp_path), LocalStorage(tmp_path), options)


async def test_the_local_system_installs_the_example_apps_where_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PIPELINEJOBS_COMPUTE_URL", raising=False)
    monkeypatch.delenv("PIPELINEJOBS_EXAMPLE_APPS", raising=False)
    compute = create_compute(settings(tmp_path), LocalStorage(tmp_path / "storage"))
    assert isinstance(compute, LocalExecutionSystem)
    stale = tmp_path / "apps" / "wordcount.json"
    stale.parent.mkdir()
    stale.write_text('{"id": "wordcount-0.1.0", "version": "0.0.1", "command": ["true"]}')

    await compute.start()
    await compute.start()  # again, as every replica of the agave-proxy does: nothing changes
    try:
        assert await compute.app_exists(WORDCOUNT_ID)
        assert await compute.app_exists(TACOBOT_ID)
        assert json.loads(stale.read_text()) == EXAMPLE_MANIFESTS["wordcount.json"]
        assert compute.registry.problems == {}
    finally:
        await compute.close()


async def test_example_apps_can_be_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PIPELINEJOBS_COMPUTE_URL", raising=False)
    monkeypatch.setenv("PIPELINEJOBS_EXAMPLE_APPS", "false")
    compute = create_compute(settings(tmp_path), LocalStorage(tmp_path / "storage"))
    assert isinstance(compute, LocalExecutionSystem)

    await compute.start()
    try:
        assert not await compute.app_exists(WORDCOUNT_ID)
        assert not (tmp_path / "apps").exists()
    finally:
        await compute.close()
