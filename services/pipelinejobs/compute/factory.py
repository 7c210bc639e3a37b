"""Pick the compute service from configuration.

With ``PIPELINEJOBS_COMPUTE_URL`` (and ``PIPELINEJOBS_COMPUTE_TOKEN``) the jobs go to that
Agave/Tapis-style service; without it they run on the embedded local execution system, with
apps from ``<data_dir>/apps`` and work folders in ``<data_dir>/work``.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipelinejobs.compute.agave import AgaveClient
from pipelinejobs.compute.local.service import LocalExecutionSystem
from pipelinejobs.compute.port import ComputeService
from pipelinejobs.errors import InvalidInput
from pipelinejobs.settings import Settings
from pipelinejobs.storage.port import Storage


class ComputeSettings(BaseSettings):
    """Compute configuration from the environment (``PIPELINEJOBS_*``)."""

    model_config = SettingsConfigDict(env_prefix="PIPELINEJOBS_", extra="ignore")

    compute_url: str | None = Field(default=None, description="Agave/Tapis URL; none: local")
    compute_token: SecretStr | None = Field(default=None, description="its bearer token")
    compute_timeout: float = Field(default=30.0, gt=0)
    compute_max_jobs: int | None = Field(
        default=None, ge=1, le=1024, description="local jobs running at once; none: CPU count"
    )
    notify_retry_base_delay: float = Field(default=0.5, gt=0)
    notify_retry_max_delay: float = Field(default=30.0, gt=0)
    notify_retry_attempts: int = Field(default=8, ge=1, le=100)


def create_compute(
    settings: Settings, storage: Storage, options: ComputeSettings | None = None
) -> ComputeService:
    """An ``AgaveClient`` when a compute URL is configured, else a ``LocalExecutionSystem``.

    Both have ``start()`` and ``close()``; call them around the system's life.
    """
    options = options or ComputeSettings()
    if options.compute_url:
        if options.compute_token is None or not options.compute_token.get_secret_value():
            raise InvalidInput(
                "PIPELINEJOBS_COMPUTE_TOKEN is required when PIPELINEJOBS_COMPUTE_URL is set "
                "(the bearer token of the compute service)"
            )
        return AgaveClient(
            options.compute_url,
            options.compute_token.get_secret_value(),
            timeout=options.compute_timeout,
        )
    return LocalExecutionSystem(
        settings.data_dir / "apps",
        storage,
        work_dir=settings.data_dir / "work",
        archive_system_default=settings.archive_system,
        notify_retry=(
            options.notify_retry_base_delay,
            max(options.notify_retry_max_delay, options.notify_retry_base_delay),
            options.notify_retry_attempts,
        ),
        max_concurrent_jobs=options.compute_max_jobs,
    )
