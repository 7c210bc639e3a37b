"""Server secrets: taken from the environment when it gives them (then the data directory is
not touched), created once in the data directory otherwise, and refused at start when they are
placeholders or too short, with an error naming the setting and never showing the value."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from pipelinejobs.errors import InvalidInput
from pipelinejobs.secrets import MIN_KEY_LENGTH, load_secrets
from pipelinejobs.settings import Settings
from typer.testing import CliRunner


def key() -> str:
    return secrets.token_hex(32)


def configured(data_dir: Path, **values: object) -> Settings:
    keys: dict[str, object] = {"token_keys": [key()], "admin_key": key(), "jwt_secret": key()}
    keys.update(values)
    return Settings(data_dir=data_dir, **keys)  # type: ignore[arg-type]


def test_keys_from_the_environment_leave_the_data_directory_untouched(tmp_path: Path) -> None:
    data_dir = tmp_path / "read-only-image-dir"
    settings = configured(data_dir)
    loaded = load_secrets(settings)
    assert loaded.jwt_secret == settings.jwt_secret.get_secret_value().encode()  # type: ignore[union-attr]
    assert not data_dir.exists()


def test_without_keys_they_are_created_once_in_the_data_directory(tmp_path: Path) -> None:
    first = load_secrets(Settings(data_dir=tmp_path))
    again = load_secrets(Settings(data_dir=tmp_path))
    assert first == again
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600
    assert set(json.loads((tmp_path / "secrets.json").read_text())) == {
        "token_key",
        "admin_key",
        "jwt_secret",
    }


def test_a_partial_environment_is_completed_from_the_file(tmp_path: Path) -> None:
    admin = key()
    loaded = load_secrets(Settings(data_dir=tmp_path, admin_key=admin))  # type: ignore[arg-type]
    assert loaded.admin_key == admin.encode()
    assert (tmp_path / "secrets.json").exists()


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("jwt_secret", "CHANGE-ME"),
        ("jwt_secret", "change-me-to-a-64-hex-digit-random-key-0123456789"),
        ("admin_key", "<hex key>"),
        ("admin_key", "replace_me_replace_me_replace_me_replace_me"),
        ("admin_key", "${PIPELINEJOBS_ADMIN_KEY}-0123456789abcdef0123456789"),
        ("jwt_secret", "your-jwt-secret-goes-here-0123456789abcdef"),
    ],
)
def test_a_placeholder_key_is_refused_naming_the_setting(
    tmp_path: Path, setting: str, value: str
) -> None:
    with pytest.raises(InvalidInput, match=f"PIPELINEJOBS_{setting.upper()} is a placeholder"):
        load_secrets(configured(tmp_path, **{setting: value}))


def test_a_placeholder_token_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="PIPELINEJOBS_TOKEN_KEYS is a placeholder"):
        load_secrets(configured(tmp_path, token_keys=[key(), "CHANGE-ME-64-hex-digits"]))


@pytest.mark.parametrize("setting", ["token_keys", "admin_key", "jwt_secret"])
def test_a_short_key_is_refused_with_the_minimum(tmp_path: Path, setting: str) -> None:
    short = secrets.token_hex(MIN_KEY_LENGTH // 2 - 1)
    value: object = [short] if setting == "token_keys" else short
    with pytest.raises(InvalidInput) as refused:
        load_secrets(configured(tmp_path, **{setting: value}))
    message = str(refused.value)
    assert f"PIPELINEJOBS_{setting.upper()} is too short" in message
    assert f"at least {MIN_KEY_LENGTH}" in message
    assert short not in message


def test_a_key_of_one_repeated_character_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="PIPELINEJOBS_ADMIN_KEY is not a random key"):
        load_secrets(configured(tmp_path, admin_key="0" * 64))


@pytest.mark.parametrize(
    ("setting", "url"),
    [
        ("PIPELINEJOBS_AMQP_URL", "amqp://pipelinejobs:CHANGE-ME@rabbitmq:5672/"),
        ("PIPELINEJOBS_MONGODB_URL", "mongodb://app:change-me@mongodb-0:27017/?replicaSet=rs0"),
    ],
)
def test_a_placeholder_password_in_a_url_is_refused(tmp_path: Path, setting: str, url: str) -> None:
    field = setting.removeprefix("PIPELINEJOBS_").lower()
    with pytest.raises(InvalidInput, match=f"the password in {setting} is a placeholder"):
        load_secrets(configured(tmp_path, **{field: url}))


def test_real_values_are_accepted(tmp_path: Path) -> None:
    settings = configured(
        tmp_path,
        amqp_url=f"amqp://pipelinejobs:{key()}@rabbitmq:5672/",
        mongodb_url=f"mongodb://root:{key()}@mongodb:27017/?replicaSet=rs0&authSource=admin",
    )
    assert load_secrets(settings).token_keys


def test_the_actor_command_refuses_a_placeholder_at_start(tmp_path: Path) -> None:
    from pipelinejobs.cli.main import app

    environment = {
        "PIPELINEJOBS_AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/",
        "PIPELINEJOBS_DATA_DIR": str(tmp_path),
        "PIPELINEJOBS_JWT_SECRET": "CHANGE-ME",
    }
    result = CliRunner(env=environment).invoke(app, ["actor", "jobs-manager"])
    assert result.exit_code == 2
    assert "PIPELINEJOBS_JWT_SECRET is a placeholder" in result.output
