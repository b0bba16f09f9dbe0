from pathlib import Path

import pytest

from tests.migrate.helpers import BASIC, write_migrations


@pytest.fixture
def basic(tmp_path: Path) -> Path:
    """The basic three-file migration set, written to a temporary directory."""
    return write_migrations(tmp_path / "migrations", BASIC)
