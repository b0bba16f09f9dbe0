import os
import subprocess
import sys
from pathlib import Path

import pytest

from penvoice.config import ConfigError, Settings

VALID = {
    "DB_URL": "postgresql://penvoice:s3cret-pw@penvoice-pg-rw.penvoice:5432/app",
    "KC_ISSUER": "https://test-auth.webbies.dev/realms/penvoice",
    "KC_AUDIENCE": "penvoice-api",
}
REQUIRED = ["DB_URL", "KC_ISSUER", "KC_AUDIENCE"]


def test_valid_environment_gives_typed_settings() -> None:
    settings = Settings.from_environ(
        {
            **VALID,
            "CORS_ORIGINS": "https://test.penvoice.app, http://localhost:5173",
            "PORT": "9000",
        }
    )
    assert settings.port == 9000
    assert settings.cors_origins == ("https://test.penvoice.app", "http://localhost:5173")
    assert settings.kc_api_client_secret is None
    assert settings.db_url.get_secret_value() == VALID["DB_URL"]


@pytest.mark.parametrize("name", REQUIRED)
def test_each_missing_required_variable_is_named(name: str) -> None:
    environ = {k: v for k, v in VALID.items() if k != name}
    with pytest.raises(ConfigError, match=rf"{name}: is required"):
        Settings.from_environ(environ)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DB_URL", "mysql://db/app"),
        ("DB_URL", "not a url"),
        ("KC_ISSUER", "test-auth.webbies.dev/realms/penvoice"),
        ("KC_ISSUER", "https://auth.example/realms/x?x=1"),
        ("KC_AUDIENCE", ""),
        ("CORS_ORIGINS", "*"),
        ("CORS_ORIGINS", "https://ok.example,https://bad.example/path"),
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("LOG_LEVEL", "chatty"),
        ("DB_POOL_MAX_SIZE", "0"),
        ("SHUTDOWN_DRAIN_SECONDS", "-1"),
    ],
)
def test_each_malformed_variable_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"{name}: "):
        Settings.from_environ({**VALID, name: value})


def test_every_problem_is_listed_at_once_and_secrets_are_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_environ({"DB_URL": "mysql://user:hunter2@db/app", "PORT": "x"})
    message = str(caught.value)
    for name in ["DB_URL", "KC_ISSUER", "KC_AUDIENCE", "PORT"]:
        assert f"{name}:" in message
    assert "hunter2" not in message


def test_secret_values_are_hidden_in_repr() -> None:
    settings = Settings.from_environ({**VALID, "KC_API_CLIENT_SECRET": "client-secret-value"})
    assert "s3cret-pw" not in repr(settings)
    assert "client-secret-value" not in repr(settings)


@pytest.mark.slow
def test_serve_exits_non_zero_naming_every_bad_variable() -> None:
    environ = {k: v for k, v in os.environ.items() if k not in {*REQUIRED, "PORT"}}
    environ.update({"KC_ISSUER": "ftp://nope", "PORT": "-5"})
    result = subprocess.run(
        [sys.executable, "-m", "penvoice.cli", "serve"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    for name in ["DB_URL", "KC_ISSUER", "KC_AUDIENCE", "PORT"]:
        assert name in result.stderr
    assert "Traceback" not in result.stderr


def test_every_setting_is_used_outside_config() -> None:
    """A validated setting nothing reads (DB_POOL_MIN_SIZE was one: the pool starts empty)
    misleads whoever sets it."""
    source = Path(__file__).resolve().parents[1] / "src" / "penvoice"
    code = "\n".join(
        path.read_text(encoding="utf-8")
        for path in source.rglob("*.py")
        if path.name != "config.py"
    )
    unused = [name for name in Settings.model_fields if f".{name}" not in code]
    assert unused == []
