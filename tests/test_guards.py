"""The guards' metrics: registered in the app's registry, every outcome from zero, and an
exposition that passes promtool."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client import generate_latest

from penvoice.app import create_app
from penvoice.config import Settings
from penvoice.documents.render import RENDER_OUTCOMES
from penvoice.guards import EXPORT_OUTCOMES, guards_of

SETTINGS = Settings.from_environ(
    {"DB_URL": "postgresql://x/y", "KC_ISSUER": "http://x/realms/y", "KC_AUDIENCE": "z"}
)


def test_installed_guards_expose_every_outcome_from_zero_in_the_apps_registry() -> None:
    app = create_app(SETTINGS)  # installs the guards (app.state.guards)
    guards = guards_of(app)
    assert app.state.guards is guards
    exposition = generate_latest(app.state.metrics.registry).decode()
    for outcome in EXPORT_OUTCOMES:
        assert f'penvoice_exports_total{{outcome="{outcome}"}} 0.0' in exposition
    for outcome in RENDER_OUTCOMES:
        assert f'penvoice_pdf_renders_total{{outcome="{outcome}"}} 0.0' in exposition
    assert "penvoice_exports_in_progress 0.0" in exposition


@pytest.mark.slow  # runs promtool
@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_the_guards_exposition_passes_promtool() -> None:
    app = create_app(SETTINGS)
    result = subprocess.run(
        ["promtool", "check", "metrics"],
        input=generate_latest(app.state.metrics.registry),
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
