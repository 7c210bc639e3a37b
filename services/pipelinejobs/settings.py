"""Configuration from the environment (``PIPELINEJOBS_*``), with pydantic-settings.

No URL means the embedded adapter: without ``PIPELINEJOBS_AMQP_URL`` the bus is in-process,
without ``PIPELINEJOBS_MONGODB_URL`` the store is a SQLite file in the data directory. Secrets
(token keys, admin key, JWT key) come from the environment in production; in embedded mode they
are created once in ``<data_dir>/secrets.json`` (mode 0600) so a newcomer needs no setup.

Every path setting is made absolute here, once, against the working directory the settings are
read in: the data directory, and with it the storage roots, the apps folder and the work folders
derived from it. Compute jobs run with their own working directory, so a relative path would
name a different folder there (``make run``'s default ``data`` failed every job that way).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PIPELINEJOBS_", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="embedded store, secrets, storage")
    amqp_url: SecretStr | None = Field(default=None, description="RabbitMQ URL; none: in-process")
    mongodb_url: SecretStr | None = Field(default=None, description="MongoDB URL; none: SQLite")
    mongodb_database: str = "pipelinejobs"
    mongodb_write_concern: str = Field(
        default="majority",
        description='acknowledgement of MongoDB writes: "majority", a number of members >= 1 '
        '("1"), or a tag-set name',
    )
    mongodb_journal: bool = Field(default=True, description="MongoDB writes wait for the journal")
    store_lock_timeout: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description="seconds an operation waits for a locked SQLite store before it fails as "
        "unavailable (the gateway answers 503 with Retry-After)",
    )
    bus_namespace: str = "pipelinejobs"
    bus_partitions: int = Field(default=8, ge=1, le=256)
    bus_balance_interval: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="seconds between the presence beats with which RabbitMQ consumers of one "
        "actor share its partitions; 0 leaves every partition with its first subscriber",
    )
    prefetch: int = Field(
        default=64,
        ge=1,
        le=1000,
        description="deliveries sent ahead, per partition queue; also the most a consumer "
        "applies in one batch (group commit)",
    )

    uuid_domain: str = "sd2e.org"
    token_keys: list[SecretStr] = Field(
        default_factory=list, description="update-token keys: the first signs, all verify"
    )
    admin_key: SecretStr | None = None
    admin_token_lifetime: int = Field(default=30, ge=5, le=3600)
    jwt_secret: SecretStr | None = None

    max_message_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_message_depth: int = Field(default=32, ge=4, le=512)
    retry_max_attempts: int = Field(default=5, ge=1, le=50)
    retry_base_delay: float = Field(default=0.5, gt=0)
    retry_max_delay: float = Field(default=30.0, gt=0)
    conflict_retries: int = Field(default=10, ge=1, le=1000)

    public_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    health_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="port where an `actor` process serves /healthz and /readyz (on "
        "PIPELINEJOBS_HOST); none: no health server; 0: a free one, logged",
    )
    archive_system: str = "data-sd2e-community"
    auto_index: bool = True
    log_level: str = "INFO"
    log_json: bool = True
    access_log: bool = Field(
        default=True, description="one process-log line per HTTP request the gateway answers"
    )

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        """The path, absolute: what a relative one names now, not in a job's own folder."""
        return value.expanduser().resolve()

    @property
    def embedded(self) -> bool:
        """True when both bus and store are the embedded adapters."""
        return self.amqp_url is None and self.mongodb_url is None

    def storage_root(self, system: str) -> Path:
        """Local directory that backs the storage system ``system``."""
        return self.data_dir / "storage" / system
