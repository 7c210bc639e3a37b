"""Where client commands find the gateway and the Bearer token they present.

``--url`` (env ``PIPELINEJOBS_URL``, default ``http://127.0.0.1:8000``) and ``--token`` (env
``PIPELINEJOBS_TOKEN``): ``--token`` is the Bearer token in every command; a document's update
token, where a command needs one, is ``--update-token``. For convenience on the machine that
runs the system: without a token, when the data directory's secrets are readable
(``$PIPELINEJOBS_DATA_DIR/secrets.json``, or ``PIPELINEJOBS_JWT_SECRET``), a one-hour token for
the local admin user is minted from them; whoever can read that file can mint any token anyway.

This module is the one place that reads the local JWT key and mints tokens from it (``up``'s
banner, ``token issue``, ``demo --embedded`` and the default token all come from here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelinejobs.client.sync import Gateway
from pipelinejobs.errors import InvalidInput
from pipelinejobs.gateway.tokens import ADMIN_ROLE, issue_token
from pipelinejobs.secrets import ServerSecrets, load_secrets
from pipelinejobs.settings import Settings

DEFAULT_URL = "http://127.0.0.1:8000"
LOCAL_USER = "admin"
"""The user ``pipelinejobs up`` prints a token for, and local commands mint tokens for."""
LOCAL_TOKEN_TTL = 3600
SECRETS_FILE = "secrets.json"

UrlOption = Annotated[
    str,
    typer.Option("--url", envvar="PIPELINEJOBS_URL", help="Gateway URL.", show_default=True),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="PIPELINEJOBS_TOKEN",
        help="Bearer token (default: minted from the local data directory's secrets).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]


def local_secrets(settings: Settings) -> ServerSecrets:
    """This machine's secrets, read from the data directory; ``InvalidInput`` when it has none
    (a token minted from fresh secrets would be refused by the running system)."""
    path = Path(settings.data_dir) / SECRETS_FILE
    if not path.is_file():
        raise InvalidInput(
            f"no secrets at {path}: run this where the system runs, with PIPELINEJOBS_DATA_DIR "
            "set to its data directory (or start it once with `pipelinejobs up`)"
        )
    return load_secrets(settings)


def jwt_secret(settings: Settings) -> bytes:
    """The JWT key of the local system (``PIPELINEJOBS_JWT_SECRET``, else the data directory's
    secrets); ``InvalidInput`` when this machine has neither. Never creates secrets."""
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value().encode()
    return local_secrets(settings).jwt_secret


def local_jwt_secret(settings: Settings) -> bytes | None:
    """:func:`jwt_secret`, or None when this machine does not have it (or cannot read it)."""
    try:
        return jwt_secret(settings)
    except (OSError, InvalidInput):
        return None


def admin_bearer_token(secret: bytes, *, user: str = LOCAL_USER, ttl: int = LOCAL_TOKEN_TTL) -> str:
    """A Bearer token with the admin role, signed with the system's JWT key ``secret``."""
    return issue_token(secret, user, roles=[ADMIN_ROLE], ttl=ttl)


def bearer_token(given: str | None) -> str | None:
    """The token to present: the one given, else one minted locally, else none."""
    if given:
        return given
    secret = local_jwt_secret(Settings())
    return None if secret is None else admin_bearer_token(secret)


def connect(url: str, token: str | None, *, nonce: str | None = None) -> Gateway:
    """A blocking gateway client (close it, or use it in a ``with`` block)."""
    return Gateway(url, bearer_token(token), nonce)
