"""GET …/invoices/{id}/pdf: the stored figures, in every script, on as many pages as it takes."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import re
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from pypdf import PdfReader

from penvoice.documents.pdf import (
    CJK,
    CORE_BOLD,
    CORE_FACES,
    CORE_REGULAR,
    FONTS,
    FULL_AND_CJK_FACES,
    FULL_FACES,
    LATIN_BOLD,
    LATIN_REGULAR,
    NotRenderable,
    choose_faces,
    needs_cjk_font,
    rate_label,
    render_invoice_pdf,
    tax_summary,
)
from penvoice.documents.sample import sample_invoice
from penvoice.invoices.repository import LineRow, LineTaxRow
from penvoice.money import format_amount
from tests.documents.conftest import Pdf, finalized, get_pdf, read_pdf
from tests.invoices.conftest import Billing, make_billing
from tools import subset_fonts

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # renders start the worker process

NAMES = (
    "Ελληνική Εταιρεία Α.Ε.",
    "ООО Ромашка",
    "株式会社テスト",
    "北京测试有限公司",
    "Société Générale d'Études Ångström",
)
LONG = (
    "Brand identity workshop over two days on site, including preparation, facilitation, "
    "a written summary of the outcomes for the leadership team and two rounds of revisions"
)


def words_in_order(phrase: str, text: str) -> bool:
    """The phrase's words appear in this order (a wrapped cell interleaves other columns)."""
    pattern = r"\s+(?:.*?\s+)?".join(re.escape(word) for word in phrase.split())
    return re.search(pattern, text, re.DOTALL) is not None


async def customer(billing: Billing, name: str, **fields: Any) -> str:
    response = await billing.api.client.post(
        f"{billing.base}/customers", json={"name": name, **fields}, headers=billing.headers()
    )
    assert response.status_code == 201, response.text
    customer_id: str = response.json()["id"]
    return customer_id


def amounts(invoice: dict[str, Any]) -> dict[str, str]:
    currency = invoice["currency"]
    return {
        field: format_amount(invoice[field], currency)
        for field in ("subtotal", "tax_total", "total", "amount_paid", "amount_due")
    }


async def test_pdf_shows_parties_in_every_script_each_line_and_the_exact_totals(
    billing: Billing,
) -> None:
    org = await billing.api.client.patch(
        billing.base,
        json={
            "name": "Ателье Ωμέγα Studio",
            "address": "Hauptstraße 5\n10115 Berlin",
            "tax_id": "DE123456789",
        },
        headers=billing.headers(),
    )
    assert org.status_code == 200, org.text
    lines = [
        {
            "description": LONG,
            "quantity": "2",
            "unit_amount": 1_234_567,
            "discount": {"percent": "10"},
            "tax_rate_ids": [billing.vat_inclusive, billing.levy_exclusive],
        },
        {
            "description": "Перевод документов — μετάφραση — 翻訳サービス",
            "quantity": "12.5",
            "unit_amount": 8_005,
            "tax_rate_ids": [billing.levy_exclusive],
        },
        {
            "description": "北京办公室咨询",
            "quantity": "1",
            "unit_amount": 99_999,
            "discount": {"amount": 999},
            "tax_rate_ids": [billing.vat_inclusive],
        },
        {"description": "Hosting (monthly)", "quantity": "1", "unit_amount": 2_999},
    ]
    for index, name in enumerate(NAMES):
        # Every line on the first invoice; the others keep to Latin lines, so only the CJK
        # names need the (slow to load) CJK font.
        these = lines if index == 0 else [lines[0], lines[3]]
        customer_id = await customer(
            billing,
            name,
            billing_address=f"{name}\nRue 1",
            email=f"ap-{uuid4().hex[:6]}@example.com",
            tax_id="EL999999999",
        )
        # KWD has three minor digits: 1234567 fils is 1,234.567.
        invoice = await finalized(billing, these, customer_id=customer_id, currency="KWD")
        paid = await billing.post(
            f"/invoices/{invoice['id']}/payments",
            {"amount": 1_000, "currency": "KWD", "paid_on": "2026-11-03", "method": "cash"},
        )
        assert paid.status_code == 201, paid.text
        stored = (
            await billing.api.client.get(
                f"{billing.base}/invoices/{invoice['id']}", headers=billing.headers()
            )
        ).json()
        response = await get_pdf(billing, invoice["id"])
        pdf = read_pdf(response)
        assert response.headers["content-disposition"] == (
            f'inline; filename="{stored["number"]}.pdf"'
        )
        assert len(pdf.pages) == 1
        assert name in pdf.text
        assert stored["number"] in pdf.text
        assert "Ателье Ωμέγα Studio" in pdf.text
        assert "Hauptstraße 5" in pdf.text
        assert "DE123456789" in pdf.text
        assert "EL999999999" in pdf.text
        assert "2026-11-02" in pdf.text  # issue date
        assert stored["due_date"] in pdf.text
        for line in these:
            assert words_in_order(str(line["description"]), pdf.text), line["description"]
        for line in stored["lines"]:
            assert format_amount(line["net"], "KWD") in pdf.text  # the line amount
            assert format_amount(line["unit_amount"], "KWD") in pdf.text
        figures = amounts(stored)
        assert figures["amount_paid"] == "1.000"
        assert figures["subtotal"].count(",") == 1  # thousands separated, 3 decimals
        for label, value in (
            ("Subtotal", figures["subtotal"]),
            ("Tax", figures["tax_total"]),
            ("Total (KWD)", figures["total"]),
            ("Amount paid", figures["amount_paid"]),
            ("Amount due (KWD)", figures["amount_due"]),
        ):
            assert f"{label} {value}" in pdf.text, (label, value)
        assert f"KWD {figures['amount_due']}" in pdf.text
        # The tax summary sums the stored line taxes per rate.
        for display_name, label in (("VAT", "VAT 20% incl."), ("Levy", "Levy 5%")):
            taxes = [t for line in stored["lines"] for t in line["taxes"]]
            taxable = sum(t["taxable_amount"] for t in taxes if t["display_name"] == display_name)
            tax = sum(t["amount"] for t in taxes if t["display_name"] == display_name)
            row = f"{label} {format_amount(taxable, 'KWD')} {format_amount(tax, 'KWD')}"
            assert row in pdf.text, row
        assert "PAID" not in pdf.text  # open, partly paid: no stamp


async def test_200_lines_continue_over_pages_with_headers_and_page_numbers(
    billing: Billing,
) -> None:
    lines = [
        {
            "description": f"Item {i:03d} "
            + ("with a long description " * 6 if i % 7 == 0 else ""),
            "quantity": "1",
            "unit_amount": 100 + i,
        }
        for i in range(1, 201)
    ]
    invoice = await finalized(billing, lines)
    pdf = read_pdf(await get_pdf(billing, invoice["id"]))
    count = len(pdf.pages)
    assert count >= 5
    assert sum("Item " in page for page in pdf.pages) >= 5
    for number, page in enumerate(pdf.pages, start=1):
        assert f"Page {number} of {count}" in page
        if "Item " in page:  # every page of the table repeats its header
            header = r"Description\s+Qty\s+Unit price\s+Discount\s+Taxes\s+Amount"
            assert re.search(header, page), number
        if number > 1:
            assert f"Invoice {invoice['number']} (continued)" in page
    for i in range(1, 201):
        found = [n for n, page in enumerate(pdf.pages) if f"Item {i:03d}" in page]
        assert len(found) == 1, (i, found)  # each line once, none lost at a page break
    last = pdf.pages[-1]
    assert f"Amount due (USD) {format_amount(invoice['amount_due'], 'USD')}" in last
    assert f"Total (USD) {format_amount(invoice['total'], 'USD')}" in last


async def test_paid_void_and_uncollectible_invoices_carry_a_stamp(billing: Billing) -> None:
    stamps: dict[str, Pdf] = {}
    paid = await finalized(billing)
    payment = {"currency": "USD", "paid_on": "2026-11-03", "method": "cash"}
    response = await billing.post(
        f"/invoices/{paid['id']}/payments", {**payment, "amount": paid["total"]}
    )
    assert response.status_code == 201
    stamps["PAID"] = read_pdf(await get_pdf(billing, paid["id"]))
    void = await finalized(billing)
    assert (await billing.post(f"/invoices/{void['id']}/void")).status_code == 200
    stamps["VOID"] = read_pdf(await get_pdf(billing, void["id"]))
    bad = await finalized(billing)
    assert (await billing.post(f"/invoices/{bad['id']}/mark-uncollectible")).status_code == 200
    stamps["UNCOLLECTIBLE"] = read_pdf(await get_pdf(billing, bad["id"]))
    open_ = read_pdf(await get_pdf(billing, (await finalized(billing))["id"]))
    for stamp, pdf in stamps.items():
        assert stamp in pdf.text
        others = {"PAID", "VOID", "UNCOLLECTIBLE"} - {stamp}
        assert not any(re.search(rf"\b{other}\b", pdf.text) for other in others), stamp
    assert not re.search(r"\b(PAID|VOID|UNCOLLECTIBLE)\b", open_.text)
    assert "Amount due (USD) 0.00" in stamps["PAID"].words


async def test_a_draft_is_409_and_another_orgs_invoice_is_404(billing: Billing) -> None:
    draft = await billing.draft()
    refused = await get_pdf(billing, draft["id"])
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["status_now"] == "draft"

    invoice = await finalized(billing)
    other = await make_billing(billing.api, owner="oscar")
    # Oscar is no member of Olivia's organisation...
    foreign = await other.api.client.get(
        f"{billing.base}/invoices/{invoice['id']}/pdf", headers=other.headers()
    )
    assert foreign.status_code == 404
    assert foreign.headers["content-type"] == "application/problem+json"
    # ...and Olivia's invoice id does not exist in his own.
    crossed = await get_pdf(other, invoice["id"])
    assert crossed.status_code == 404
    unknown = await get_pdf(billing, str(uuid4()))
    assert unknown.status_code == 404
    assert (
        await billing.api.client.get(f"{billing.base}/invoices/{invoice['id']}/pdf")
    ).status_code == 401


async def test_a_line_taller_than_a_page_is_split_over_pages_and_nothing_is_lost(
    billing: Billing,
) -> None:
    words = [f"w{n:03d}" for n in range(330)]  # 2,000 characters, the longest description
    description = " ".join(words)[:2000]
    short = [
        {"description": f"Item {n:02d}", "quantity": "1", "unit_amount": 100} for n in range(50)
    ]
    long = {"description": description, "quantity": "1", "unit_amount": 200}
    invoice = await finalized(billing, [*short[:25], long, *short[25:]])
    pdf = read_pdf(await get_pdf(billing, invoice["id"]))
    assert len(pdf.pages) >= 3
    kept = description.split()
    assert words_in_order(" ".join(["Item", "24", *kept, "Item", "25"]), pdf.text)
    for n in range(50):
        assert sum(f"Item {n:02d}" in page for page in pdf.pages) == 1, n
    for number, page in enumerate(pdf.pages, start=1):
        assert f"Page {number} of {len(pdf.pages)}" in page
    response = await get_pdf(billing, invoice["id"])
    for drawn in PdfReader(io.BytesIO(response.content)).pages:
        assert lowest_body_text_mm(drawn) >= BOTTOM_MARGIN_MM  # nothing over the footer


BOTTOM_MARGIN_MM = 20.0
FOOTER = re.compile(r"^(Invoice \S+|Page \d+ of \d+)$")


def lowest_body_text_mm(page: Any) -> float:
    """Distance from the page's bottom edge of the lowest text that is not the footer."""
    lowest: list[float] = []

    def visit(text: str, _cm: Any, tm: Any, _font: Any, _size: Any) -> None:
        if text.strip() and not FOOTER.match(text.strip()):
            lowest.append(float(tm[5]) * 25.4 / 72)

    page.extract_text(visitor_text=visit)
    return min(lowest)


def _line(*taxes: LineTaxRow) -> LineRow:
    return LineRow(uuid4(), 1, "x", Decimal(1), 100, None, None, 100, 0, 100, 0, 100, tuple(taxes))


def test_tax_summary_sums_stored_figures_per_rate_in_order_of_appearance() -> None:
    vat, levy = uuid4(), uuid4()
    summary = tax_summary(
        [
            _line(LineTaxRow(levy, "Levy", Decimal(5), False, 100, 5)),
            _line(
                LineTaxRow(vat, "VAT 19%", Decimal(19), True, 84, 16),
                LineTaxRow(levy, "Levy", Decimal(5), False, 84, 4),
            ),
        ]
    )
    assert [(r.display_name, r.taxable_amount, r.amount) for r in summary] == [
        ("Levy", 184, 9),
        ("VAT 19%", 84, 16),
    ]
    assert rate_label("VAT 19%", Decimal("19.0000"), True) == "VAT 19% incl."
    assert rate_label("Levy", Decimal("2.5000"), False) == "Levy 2.5%"


def test_the_cjk_font_is_loaded_only_when_a_text_needs_it() -> None:
    assert not needs_cjk_font(["Ünïcode Kunde GmbH", "Ελληνική", "Ромашка", "€ 1,234.50 — ok"])
    assert needs_cjk_font(["Acme", "株式会社テスト"])
    assert needs_cjk_font(["한국어"])


def test_each_document_gets_the_cheapest_fonts_that_hold_all_its_text() -> None:
    assert choose_faces(["Ünïcode Kunde GmbH", "Ελληνική", "Ромашка", "€ 1.234,50 — № 7"]) == (
        CORE_FACES
    )
    assert choose_faces(["Acme", "Հայերեն ընկերություն"]) == FULL_FACES  # Armenian
    assert choose_faces(["Acme", "株式会社テスト"]) == FULL_AND_CJK_FACES


def test_a_core_font_document_shows_its_text() -> None:
    invoice, lines = sample_invoice()
    latin = dataclasses.replace(
        invoice,
        org_snapshot={"name": "Société Générale d'Études Ångström"},
        customer_snapshot={"name": "ООО Ромашка"},
        memo="Ευχαριστούμε",
    )
    plain = [
        dataclasses.replace(line, description=f"Beratung, Teil {n}") for n, line in enumerate(lines)
    ]
    assert choose_faces([latin.memo, *(line.description for line in plain)]) == CORE_FACES
    pages = PdfReader(io.BytesIO(render_invoice_pdf(latin, plain))).pages
    text = " ".join("\n".join(page.extract_text() for page in pages).split())
    for phrase in (
        "Société Générale d'Études Ångström",
        "ООО Ромашка",
        "Ευχαριστούμε",
        "Beratung, Teil 1",
    ):
        assert phrase in text


def test_the_core_cuts_are_what_the_subset_tool_makes_of_the_full_fonts() -> None:
    for source, target in subset_fonts.CUTS.items():
        assert subset_fonts.core_cut(FONTS / source) == (FONTS / target).read_bytes(), target
    core = set(subset_fonts.core_codepoints())
    assert set(TTFont(CORE_REGULAR).getBestCmap()) == core & set(
        TTFont(LATIN_REGULAR).getBestCmap()
    )


def test_the_readme_sample_renders_the_same_bytes_every_time() -> None:
    invoice, lines = sample_invoice()
    first = render_invoice_pdf(invoice, lines)
    assert first == render_invoice_pdf(invoice, lines)  # creation date = finalization
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(first)).pages)
    assert "Ελληνική Εταιρεία Α.Ε." in text
    assert "北京办公室 — on-site support" in text
    assert f"Total (EUR) {format_amount(invoice.total, 'EUR')}" in text
    assert "PAID" in text


def test_a_draft_has_no_document() -> None:
    invoice, lines = sample_invoice()
    with pytest.raises(NotRenderable):
        render_invoice_pdf(dataclasses.replace(invoice, status="draft", number=None), lines)


def test_the_bundled_fonts_are_the_ones_the_readme_names() -> None:
    readme = (FONTS / "README.md").read_text()
    for font in (LATIN_REGULAR, LATIN_BOLD, CORE_REGULAR, CORE_BOLD, CJK):
        digest = hashlib.sha256(font.read_bytes()).hexdigest()
        assert f"{digest}  {font.name}" in readme, font.name  # not a stub or an LFS pointer
    for licence in ("LICENSE-DejaVu.txt", "LICENSE-WenQuanYi.txt"):
        assert "Copyright" in (FONTS / licence).read_text()


def _text_of(document: bytes) -> str:
    pages = PdfReader(io.BytesIO(document)).pages
    return " ".join("\n".join(page.extract_text() for page in pages).split())


def test_line_amounts_are_net_and_sum_to_the_subtotal_as_labelled() -> None:
    """ "Line total" used to be the gross line total beside a net "Subtotal": now every line
    shows its amount after discount and before added tax, which is what sums to the
    subtotal, and the table says so."""
    invoice, lines = sample_invoice()
    invoice = dataclasses.replace(invoice, status="open", paid_at=None)
    assert any(line.net != line.total for line in lines)  # some tax is added on top
    assert sum(line.net for line in lines) == invoice.subtotal
    text = _text_of(render_invoice_pdf(invoice, lines))
    assert "Line total" not in text
    assert "line amounts after discount, before added tax" in text
    for line in lines:
        if line.net != line.total:
            assert format_amount(line.net, "EUR") in text
            assert format_amount(line.total, "EUR") not in text, line.description
    assert f"Subtotal {format_amount(invoice.subtotal, 'EUR')}" in text


def test_a_paid_invoice_says_when_it_was_paid_instead_of_an_amount_due() -> None:
    invoice, lines = sample_invoice()
    assert invoice.status == "paid"
    assert invoice.paid_at is not None
    text = _text_of(render_invoice_pdf(invoice, lines))
    assert "AMOUNT DUE" not in text
    assert f"due {invoice.due_date}" not in text
    assert f"PAID IN FULL EUR {format_amount(invoice.total, 'EUR')}" in text
    assert f"paid on {invoice.paid_at.date().isoformat()}" in text
    opened = dataclasses.replace(
        invoice, status="open", paid_at=None, amount_paid=0, amount_due=invoice.total
    )
    text = _text_of(render_invoice_pdf(opened, lines))
    assert f"AMOUNT DUE EUR {format_amount(invoice.total, 'EUR')}" in text
    assert f"due {invoice.due_date}" in text
    assert "paid on" not in text


def test_rendering_logs_nothing_at_info(caplog: pytest.LogCaptureFixture) -> None:
    """fontTools' subsetter reported each step at INFO (~40 lines a render); the app's logs,
    at the default level `info`, are for requests."""
    invoice, lines = sample_invoice()
    with caplog.at_level(logging.INFO):
        render_invoice_pdf(invoice, lines)
    assert [r.name for r in caplog.records] == []
