"""Server-side secrets: update-token keys, the admin-token key and the JWT signing key.

Production passes them in the environment. Embedded mode creates them once, randomly, in
``<data_dir>/secrets.json`` with mode 0600, so tokens stay valid across restarts (a callback URL
embeds an update token and must keep working). When the environment gives all three, the data
directory is not touched: a container whose data directory is read-only or empty still starts.

A key from the environment is checked before it is used: at least :data:`MIN_KEY_LENGTH`
characters, and not a placeholder (``CHANGE-ME``, ``<hex key>``...), because a manifest copied
with its example values would otherwise run with keys anyone can read. The passwords in the
broker and store URLs are checked for placeholders too. A refusal names the setting, never the
value.
"""

from __future__ import annotations

import json
import os
import re
import secrets as random_secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

from pipelinejobs.errors import InvalidInput
from pipelinejobs.settings import Settings

_KEY_BYTES = 32
MIN_KEY_LENGTH = 32
"""Characters a key from the environment must have at least (a 16-byte key in hex; the keys
this system creates itself are 64 hex digits)."""
MIN_DISTINCT_CHARACTERS = 8
"""Fewer different characters than this (``aaaa...``, ``0000...``) is not a random key."""
PLACEHOLDER = re.compile(
    r"change[-_ .]?(me|it|this)|replace[-_ .]?me|placeholder|fill[-_ .]?me|your[-_ .]|"
    r"todo|fixme|example|<[^>]*>|\$\{[^}]*\}|xxxx",
    re.IGNORECASE,
)
"""Text that example manifests and documentation put where a secret belongs."""
GENERATE_HINT = "generate one with: python3 -c 'import secrets; print(secrets.token_hex(32))'"


@dataclass(frozen=True)
class ServerSecrets:
    token_keys: tuple[bytes, ...]
    admin_key: bytes
    jwt_secret: bytes

    def __repr__(self) -> str:
        return f"ServerSecrets(<{len(self.token_keys)} token keys>, <admin key>, <jwt secret>)"


def load_secrets(settings: Settings) -> ServerSecrets:
    """Secrets from settings, completed from (and saved to) the data directory's file.

    ``InvalidInput`` when a key or URL password from the environment is a placeholder or a key
    is too short (:func:`check_configured_secrets`).
    """
    check_configured_secrets(settings)
    configured_tokens = tuple(k.get_secret_value().encode() for k in settings.token_keys)
    if configured_tokens and settings.admin_key and settings.jwt_secret:
        return ServerSecrets(
            token_keys=configured_tokens,
            admin_key=settings.admin_key.get_secret_value().encode(),
            jwt_secret=settings.jwt_secret.get_secret_value().encode(),
        )
    stored = _read_or_create(settings.data_dir / "secrets.json")
    token_keys = configured_tokens or (bytes.fromhex(stored["token_key"]),)
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


def check_configured_secrets(settings: Settings) -> None:
    """Refuse the keys and URL passwords of ``settings`` that no one should run with."""
    keys: list[tuple[str, SecretStr | None]] = [
        ("PIPELINEJOBS_TOKEN_KEYS", key) for key in settings.token_keys
    ]
    keys += [
        ("PIPELINEJOBS_ADMIN_KEY", settings.admin_key),
        ("PIPELINEJOBS_JWT_SECRET", settings.jwt_secret),
    ]
    for name, key in keys:
        if key is not None:
            check_key(name, key.get_secret_value())
    for name, url in (
        ("PIPELINEJOBS_AMQP_URL", settings.amqp_url),
        ("PIPELINEJOBS_MONGODB_URL", settings.mongodb_url),
    ):
        if url is not None:
            check_url_password(name, url.get_secret_value())


def check_key(name: str, value: str) -> None:
    """``InvalidInput`` naming ``name`` when ``value`` is a placeholder or too weak a key."""
    _refuse_placeholder(name, value)
    if len(value) < MIN_KEY_LENGTH:
        raise InvalidInput(
            f"{name} is too short ({len(value)} characters); a key needs at least "
            f"{MIN_KEY_LENGTH} random characters: {GENERATE_HINT}"
        )
    if len(set(value)) < MIN_DISTINCT_CHARACTERS:
        raise InvalidInput(
            f"{name} is not a random key (only {len(set(value))} different characters); "
            f"{GENERATE_HINT}"
        )


def check_url_password(name: str, url: str) -> None:
    """``InvalidInput`` naming ``name`` when the password in ``url`` is a placeholder."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return  # a malformed URL is the adapter's to refuse, with its own message
    if password:
        _refuse_placeholder(f"the password in {name}", unquote(password))


def _refuse_placeholder(name: str, value: str) -> None:
    found = PLACEHOLDER.search(value)
    if found is not None:
        raise InvalidInput(
            f"{name} is a placeholder (it contains {found.group(0)!r}), not a secret; set the "
            f"real value in the environment (a Kubernetes Secret or the compose .env file): "
            f"{GENERATE_HINT}"
        )


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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        created = {n: random_secrets.token_hex(_KEY_BYTES) for n in names}
        # Write a private temporary file, then link it into place: the link is atomic and fails
        # when another process of this system created the file first (then theirs is used).
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{random_secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except PermissionError as exc:
        raise InvalidInput(
            f"cannot create the secrets file {path} ({exc.strerror}): make the data directory "
            "(PIPELINEJOBS_DATA_DIR) writable by this user, or set PIPELINEJOBS_TOKEN_KEYS, "
            "PIPELINEJOBS_ADMIN_KEY and PIPELINEJOBS_JWT_SECRET in the environment"
        ) from None
    with os.fdopen(fd, "w") as handle:
        json.dump(created, handle)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return _read_or_create(path)
    finally:
        temporary.unlink()
    return created
