"""The compute factory: an Agave client when a URL is configured, else the local system."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipelinejobs.compute.agave import AgaveClient
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
