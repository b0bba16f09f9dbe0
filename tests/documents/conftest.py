"""Fixtures of the document tests: a billing organisation, and PDF text extraction."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from tests.conftest import Api
from tests.invoices.conftest import Billing, make_billing


@pytest.fixture
async def billing(api: Api) -> Billing:
    return await make_billing(api)


@dataclass(frozen=True)
class Pdf:
    pages: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.pages)

    @property
    def words(self) -> str:
        """All text with whitespace collapsed: a wrapped phrase reads as one line."""
        return " ".join(self.text.split())


def read_pdf(response: httpx.Response) -> Pdf:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(response.content))
    return Pdf([page.extract_text() for page in reader.pages])


async def finalized(
    billing: Billing, lines: list[dict[str, Any]] | None = None, **body: Any
) -> dict[str, Any]:
    draft = await billing.draft(lines, **body)
    done = await billing.post(f"/invoices/{draft['id']}/finalize", {"issue_date": "2026-11-02"})
    assert done.status_code == 200, done.text
    invoice: dict[str, Any] = done.json()
    return invoice


async def get_pdf(billing: Billing, invoice_id: str) -> httpx.Response:
    return await billing.api.client.get(
        f"{billing.base}/invoices/{invoice_id}/pdf", headers=billing.headers()
    )
