"""The worker's SMTP settings: every mistake is named, secrets are never echoed."""

from __future__ import annotations

import pytest

from penvoice.config import ConfigError, WorkerSettings

BASE = {"DB_URL": "postgresql://db.example/penvoice"}


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"SMTP_HOST": "smtp.example"}, "SMTP_FROM: is required with SMTP_HOST"),
        ({"SMTP_FROM": "nobody"}, "SMTP_FROM"),
        ({"SMTP_SECURITY": "ssl"}, "SMTP_SECURITY"),
        ({"SMTP_PORT": "0"}, "SMTP_PORT"),
        ({"SMTP_USERNAME": "u"}, "SMTP_USERNAME, SMTP_PASSWORD: set both or neither"),
        ({"SMTP_PASSWORD": "hunter2-secret"}, "SMTP_USERNAME, SMTP_PASSWORD"),
    ],
)
def test_bad_smtp_settings_are_named(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as raised:
        WorkerSettings.from_environ({**BASE, **environ})
    assert named in str(raised.value)
    assert "hunter2-secret" not in str(raised.value)


def test_the_port_follows_the_security() -> None:
    sender = {"SMTP_HOST": "smtp.example", "SMTP_FROM": "Billing <b@example.com>"}
    ports = {
        security: WorkerSettings.from_environ(
            {**BASE, **sender, "SMTP_SECURITY": security}
        ).smtp_effective_port
        for security in ("starttls", "tls", "none")
    }
    assert ports == {"starttls": 587, "tls": 465, "none": 587}
    explicit = WorkerSettings.from_environ({**BASE, **sender, "SMTP_PORT": "2525"})
    assert explicit.smtp_effective_port == 2525
    assert "SecretStr" in repr(
        WorkerSettings.from_environ(
            {**BASE, **sender, "SMTP_USERNAME": "u", "SMTP_PASSWORD": "p"}
        ).smtp_password
    )
