"""Pick the compute service from configuration.

With ``PIPELINEJOBS_COMPUTE_URL`` (and ``PIPELINEJOBS_COMPUTE_TOKEN``) the jobs go to that
Agave/Tapis-style service; without it they run on the embedded local execution system, with
apps from ``<data_dir>/apps`` and work folders in ``<data_dir>/work``.

The local execution system installs the example apps (``wordcount-0.1.0``,
``tacobot9000-0.1.0u1``) into its apps folder, and the input files their documented examples
name onto its storage systems, when it starts, wherever it runs: in ``up``, and
in an ``actor agave-proxy`` process of a scaled-out system, whose agave-proxy would otherwise
find no app to launch. Installing is idempotent; the two manifest files belong to the package
and are rewritten when they differ from its copy, so put your own apps in other files, or set
``PIPELINEJOBS_EXAMPLE_APPS=false`` to install none. Notifications to the gateway are retried
for ``PIPELINEJOBS_NOTIFY_RETRY_HORIZON`` seconds (a day) with capped exponential backoff
(:mod:`pipelinejobs.compute.local.notifier`).
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipelinejobs.compute.agave import AgaveClient
from pipelinejobs.compute.local.notifier import DEFAULT_HORIZON, RetryPolicy
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
    notify_retry_horizon: float = Field(
        default=DEFAULT_HORIZON,
        gt=0,
        description="seconds a notification is retried before it is given up",
    )
    example_apps: bool = Field(
        default=True, description="install the example apps into the local apps folder"
    )


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
        notify_retry=RetryPolicy(
            options.notify_retry_base_delay,
            max(options.notify_retry_max_delay, options.notify_retry_base_delay),
            options.notify_retry_horizon,
        ),
        max_concurrent_jobs=options.compute_max_jobs,
        example_apps=options.example_apps,
    )
