"""`/docs` renders the OpenAPI 3.1 document in a real browser, offline: headless Chromium
(Debian's package) loads the page from a real `penvoice serve`, runs the bundled Swagger UI
and the DOM it leaves must show the operations — not "Unable to render this definition"."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from penvoice.dev.issuer import LocalIssuer
from tests.conftest import app_environ
from tests.reliability.server import serve

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs Debian's chromium")
        pytest.skip("SKIPPED LOUDLY: no chromium on PATH (apt-get install chromium)")
    return found


def rendered_dom(url: str, profile: Path) -> str:
    """The DOM after the page's scripts ran, with time to fetch and render the document."""
    result = subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_docs_show_every_operation_in_headless_chromium(
    database_url: str, issuer: LocalIssuer, tmp_path: Path
) -> None:
    with serve(app_environ(database_url, issuer)) as server:
        dom = rendered_dom(f"{server.base_url}/docs", tmp_path / "profile")
        document = httpx.get(f"{server.base_url}/openapi.json").json()
    assert "Unable to render this definition" not in dom
    assert document["openapi"].startswith("3.1")
    operations = re.findall(r'class="opblock opblock-(get|post|patch|put|delete)', dom)
    expected = sum(
        1
        for path in document["paths"].values()
        for method in path
        if method in {"get", "post", "patch", "put", "delete"}
    )
    assert len(operations) == expected >= 40
    for path in ("/v1/orgs/{org_id}/invoices", "/v1/orgs/{org_id}/invoices/{invoice_id}/finalize"):
        assert f'data-path="{path}"' in dom, path
    # Offline: every script and stylesheet comes from the app itself, none from a CDN.
    sources = re.findall(r'<(?:script|link)[^>]*?(?:src|href)="([^"]+)"', dom)
    assert sources
    assert [s for s in sources if not s.startswith(("/docs/", server.base_url))] == []
