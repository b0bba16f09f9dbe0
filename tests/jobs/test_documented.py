"""Every worker setting is in the README's worker table (and every API setting in its own)."""

from __future__ import annotations

from penvoice.config import Settings, WorkerSettings
from tests.conftest import REPO_ROOT


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    worker = readme[readme.index("### Worker configuration") :]
    worker = worker[: worker.index("\n## ")]
    missing = [name for name in WorkerSettings.model_fields if f"`{name.upper()}`" not in worker]
    assert missing == []
    api = readme[readme.index("## Configuration") : readme.index("### Worker configuration")]
    missing = [name for name in Settings.model_fields if f"`{name.upper()}`" not in api]
    assert missing == []
