"""Server-side secrets: update-token keys, the admin-token key and the JWT signing key.

Production passes them in the environment. Embedded mode creates them once, randomly, in
``<data_dir>/secrets.json`` with mode 0600, so tokens stay valid across restarts (a callback URL
embeds an update token and must keep working).
"""

from __future__ import annotations

import json
import os
import secrets as random_secrets
from dataclasses import dataclass
from pathlib import Path

from pipelinejobs.errors import InvalidInput
from pipelinejobs.settings import Settings

_KEY_BYTES = 32


@dataclass(frozen=True)
class ServerSecrets:
    token_keys: tuple[bytes, ...]
    admin_key: bytes
    jwt_secret: bytes

    def __repr__(self) -> str:
        return f"ServerSecrets(<{len(self.token_keys)} token keys>, <admin key>, <jwt secret>)"


def load_secrets(settings: Settings) -> ServerSecrets:
    """Secrets from settings, completed from (and saved to) the data directory's file."""
    stored = _read_or_create(settings.data_dir / "secrets.json")
    token_keys = tuple(k.get_secret_value().encode() for k in settings.token_keys) or (
        bytes.fromhex(stored["token_key"]),
    )
    admin_key = (
        settings.admin_key.get_secret_value().encode()
        if settings.admin_key
        else bytes.fromhex(stored["admin_key"])
    )
    jwt_secret = (
        settings.jwt_secret.get_secret_value().encode()
        if settings.jwt_secret
        else bytes.fromhex(stored["jwt_secret"])
    )
    return ServerSecrets(token_keys=token_keys, admin_key=admin_key, jwt_secret=jwt_secret)


def _read_or_create(path: Path) -> dict[str, str]:
    names = ("token_key", "admin_key", "jwt_secret")
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"secrets file {path} is unreadable: {exc}") from exc
        if isinstance(stored, dict) and all(isinstance(stored.get(n), str) for n in names):
            return {n: stored[n] for n in names}
        raise InvalidInput(f"secrets file {path} must hold hex strings for {', '.join(names)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    created = {n: random_secrets.token_hex(_KEY_BYTES) for n in names}
    # Write a private temporary file, then link it into place: the link is atomic and fails
    # when another process of this system created the file first (then theirs is used).
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{random_secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(created, handle)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return _read_or_create(path)
    finally:
        temporary.unlink()
    return created
