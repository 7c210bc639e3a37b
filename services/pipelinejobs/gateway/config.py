"""Settings only the gateway reads: actor ids, administrators, the OIDC provider, and the HTTP
server's limits on slow and surplus clients.

Read from the environment (``PIPELINEJOBS_*``) like the main
:class:`~pipelinejobs.settings.Settings`, so these can move there later without changing a
deployment.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PIPELINEJOBS_", extra="ignore")

    actor_ids: dict[str, str] = Field(
        default_factory=dict,
        description='Abaco-style actor ids, as JSON {"G1p783PxpalBB": "jobs-manager"}',
    )
    admin_users: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="user names with admin rights, comma-separated"
    )
    oidc_issuer: str | None = Field(default=None, description="issuer (iss) of RS256 tokens")
    oidc_jwks_url: str | None = Field(default=None, description="JWKS URL of the OIDC provider")
    oidc_audience: str | None = Field(default=None, description="required aud, if any")
    oidc_algorithms: list[str] = Field(default_factory=lambda: ["RS256"])
    oidc_user_claim: str = Field(default="sub", description="claim that names the user")
    jwks_cache_seconds: float = Field(default=300.0, gt=0)
    header_timeout: float = Field(
        default=10.0, gt=0, description="seconds a request's headers may take to arrive"
    )
    body_timeout: float = Field(
        default=30.0, gt=0, description="seconds a request's body may take to arrive"
    )
    max_connections: int = Field(
        default=1000, ge=1, description="connections served at once; a request on one more: 503"
    )
    keep_alive_timeout: int = Field(
        default=5, ge=1, description="seconds an idle kept-alive connection stays open"
    )

    @field_validator("admin_users", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("oidc_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        refused = [name for name in value if name.upper() in {"NONE", "HS256", "HS384", "HS512"}]
        if refused:
            raise ValueError(
                f"oidc_algorithms may not contain {', '.join(refused)}; an OIDC provider signs "
                "with a public-key algorithm such as RS256 or ES256"
            )
        return value

    @model_validator(mode="after")
    def _oidc_complete(self) -> GatewaySettings:
        if (self.oidc_issuer is None) != (self.oidc_jwks_url is None):
            raise ValueError(
                "set both oidc_issuer and oidc_jwks_url (PIPELINEJOBS_OIDC_ISSUER, "
                "PIPELINEJOBS_OIDC_JWKS_URL) to accept an OIDC provider's tokens, or neither"
            )
        return self

    @property
    def oidc_enabled(self) -> bool:
        return self.oidc_issuer is not None and self.oidc_jwks_url is not None
