"""The documents name code by symbol (`penvoice.db.Database.connection`), never by a
`file.py:123` position that drifts with every edit; every symbol they name exists."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_no_line_number_references(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    assert re.findall(r"[\w/]+\.py:\d+", text) == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_named_symbol_exists(document: Path) -> None:
    missing = []
    for name in re.findall(r"`(penvoice(?:\.\w+)+)`", document.read_text(encoding="utf-8")):
        if not _resolves(name):
            missing.append(name)
    assert missing == []


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False
