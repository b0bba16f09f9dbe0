"""The invoice as an A4 PDF, rendered in-process with fpdf2 (pure Python).

The document shows the stored figures and nothing else: every amount is a stored integer
formatted by `money.format_amount`; the only arithmetic is summing stored integers (the
per-rate tax summary, and the tax already included in prices). Text is set in the bundled
DejaVu Sans (Latin, Greek, Cyrillic and more); characters it lacks fall back to the bundled
WenQuanYi Micro Hei (CJK ideographs, kana, Hangul), which is loaded only for documents that
need it because parsing a 5 MB font is most of a render's cost.

`render_invoice_pdf` is synchronous and CPU-bound (≈0.1-0.5 s): call it off the event loop.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from fpdf import FPDF, FontFace
from fpdf.enums import MethodReturnValue, TableBordersLayout, XPos, YPos

from penvoice.documents.labels import INVOICE_LABELS, Labels
from penvoice.invoices.repository import InvoiceRow, LineRow
from penvoice.invoices.views import decimal_text
from penvoice.money import format_amount

# fpdf2 subsets every embedded font with fontTools, whose `fontTools.subset` logger reports
# each step at INFO (about 40 lines a render): the logs are for requests, so only warnings.
logging.getLogger("fontTools").setLevel(logging.WARNING)

FONTS = Path(str(resources.files("penvoice.documents") / "fonts"))
LATIN_REGULAR = FONTS / "DejaVuSans.ttf"
LATIN_BOLD = FONTS / "DejaVuSans-Bold.ttf"
CORE_REGULAR = FONTS / "DejaVuSans-core.ttf"  # made by `python -m tools.subset_fonts`
CORE_BOLD = FONTS / "DejaVuSans-Bold-core.ttf"
CJK = FONTS / "wqy-microhei.ttc"

FAMILY = "dejavu"
CJK_FAMILY = "cjk"

# A4 in millimetres.
MARGIN = 15.0
PAGE_WIDTH = 210.0
PAGE_HEIGHT = 297.0
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
BOTTOM_MARGIN = 20.0

RGB = tuple[int, int, int]
INK: RGB = (33, 37, 41)
MUTED: RGB = (108, 117, 125)
ACCENT: RGB = (31, 58, 96)
RULE: RGB = (206, 212, 218)
HEADING_FILL: RGB = (232, 237, 243)
ZEBRA_FILL: RGB = (247, 248, 250)

# Status → (stamp text, colour). Open invoices carry no stamp.
STAMPS: dict[str, tuple[str, RGB]] = {
    "paid": ("PAID", (25, 135, 84)),
    "void": ("VOID", (176, 42, 55)),
    "uncollectible": ("UNCOLLECTIBLE", (176, 96, 0)),
}

# The last column is the line's net (after discount, before added tax): the column sums to
# the subtotal, and the added (exclusive) taxes are in the Taxes column and the tax total.
LINE_COLUMNS = ("Description", "Qty", "Unit price", "Discount", "Taxes", "Amount")
AMOUNTS_NOTE = "Amounts in {currency}; line amounts after discount, before added tax"
LINE_WIDTHS = (60, 13, 22, 21, 42, 22)  # mm, sums to CONTENT_WIDTH
LINE_ALIGN = ("LEFT", "RIGHT", "RIGHT", "RIGHT", "LEFT", "RIGHT")


class NotRenderable(ValueError):
    """The invoice has no document (a draft: no number, no dates, no snapshots)."""


class TooManyPages(ValueError):
    """The document would run past the page cap; rendering stopped at the first page over."""

    def __init__(self, max_pages: int) -> None:
        super().__init__(f"the document runs past {max_pages} pages")
        self.max_pages = max_pages


@dataclass(frozen=True)
class TaxSummaryRow:
    """One rate on the invoice: the sums of the stored per-line figures."""

    display_name: str
    percentage: Decimal
    inclusive: bool
    taxable_amount: int
    amount: int


def tax_summary(lines: Iterable[LineRow]) -> list[TaxSummaryRow]:
    """Stored line taxes summed per rate, in order of first appearance (no recomputation)."""
    rows: dict[tuple[UUID, str, Decimal, bool], TaxSummaryRow] = {}
    for line in lines:
        for tax in line.taxes:
            key = (tax.tax_rate_id, tax.display_name, tax.percentage, tax.inclusive)
            seen = rows.get(key) or TaxSummaryRow(
                tax.display_name, tax.percentage, tax.inclusive, 0, 0
            )
            rows[key] = TaxSummaryRow(
                seen.display_name,
                seen.percentage,
                seen.inclusive,
                seen.taxable_amount + tax.taxable_amount,
                seen.amount + tax.amount,
            )
    return list(rows.values())


def rate_label(display_name: str, percentage: Decimal, inclusive: bool) -> str:
    """ "VAT 20%", or just the name when it already states the percentage ("VAT 19%")."""
    percent = f"{decimal_text(percentage)}%"
    label = display_name if percent in display_name else f"{display_name} {percent}"
    return f"{label} incl." if inclusive else label


@dataclass(frozen=True)
class Faces:
    """The fonts one document is set in."""

    regular: Path
    bold: Path
    cjk: bool  # WenQuanYi Micro Hei as the per-character fallback


CORE_FACES = Faces(CORE_REGULAR, CORE_BOLD, cjk=False)
FULL_FACES = Faces(LATIN_REGULAR, LATIN_BOLD, cjk=False)
FULL_AND_CJK_FACES = Faces(LATIN_REGULAR, LATIN_BOLD, cjk=True)


@functools.cache
def _coverage(font_file: Path) -> frozenset[int]:
    font = TTFont(font_file, lazy=True)
    try:
        return frozenset(font.getBestCmap())
    finally:
        font.close()


def choose_faces(texts: Iterable[str]) -> Faces:
    """The cheapest fonts that hold every character: fpdf2 parses each glyph of each face
    per document, so the 2,000-glyph core cut renders several times faster than the full
    6,000-glyph DejaVu Sans, which in turn spares the 5 MB CJK font whenever it can."""
    chars = {ord(char) for text in texts for char in text if not char.isspace()}
    if chars <= _coverage(CORE_REGULAR):
        return CORE_FACES
    if chars <= _coverage(LATIN_REGULAR):
        return FULL_FACES
    return FULL_AND_CJK_FACES


def needs_cjk_font(texts: Iterable[str]) -> bool:
    return choose_faces(texts).cjk


def _text(snapshot: dict[str, Any] | None, key: str) -> str:
    value = (snapshot or {}).get(key)
    return value.strip() if isinstance(value, str) else ""


def _postal(snapshot: dict[str, Any] | None, free_text_key: str) -> str:
    """The free-text address, or else the structured one (issue 13) as lines."""
    free = _text(snapshot, free_text_key)
    address = (snapshot or {}).get("postal_address")
    if free or not isinstance(address, dict):
        return free
    city = " ".join(str(address.get(k) or "") for k in ("postal_code", "city")).strip()
    parts = (address.get("line1"), address.get("line2"), city, address.get("country"))
    return "\n".join(str(part) for part in parts if part)


def _account(org: dict[str, Any] | None) -> str:
    account = (org or {}).get("payment_account")
    if not isinstance(account, dict) or not account.get("iban"):
        return ""
    bic = f"  BIC: {account['bic']}" if account.get("bic") else ""
    return f"IBAN: {account['iban']}{bic}"


def _labelled(label: str, value: str) -> str:
    return f"{label}: {value}" if value else ""


def _date(value: date | None) -> str:
    return value.isoformat() if value else ""


class _InvoiceDocument(FPDF):
    def __init__(
        self,
        invoice: InvoiceRow,
        faces: Faces,
        max_pages: int | None = None,
        *,
        pdfa: bool = False,
        labels: Labels = INVOICE_LABELS,
    ) -> None:
        self.labels = labels
        compliance = "PDFA_3B" if pdfa else None
        super().__init__(
            orientation="portrait", unit="mm", format="A4", enforce_compliance=compliance
        )
        self.invoice = invoice
        self.max_pages = max_pages
        self.org_name = _text(invoice.org_snapshot, "name")
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(auto=True, margin=BOTTOM_MARGIN)
        self.add_font(FAMILY, "", faces.regular)
        self.add_font(FAMILY, "B", faces.bold)
        if faces.cjk:
            self.add_font(CJK_FAMILY, "", CJK)
            self.set_fallback_fonts([CJK_FAMILY], exact_match=False)
        self.alias_nb_pages()
        self.set_title(f"{labels.name} {invoice.number}")
        self.set_author(self.org_name)
        self.set_creator("Penvoice")
        self.set_lang("en")
        if invoice.finalized_at is not None:  # the same invoice renders the same bytes
            self.set_creation_date(invoice.finalized_at)
        self.set_text_color(*INK)

    def add_page(self, *args: Any, **kwargs: Any) -> None:
        """Every page break comes here (explicit or automatic): the page cap stops the
        render at once, before any more work is spent on a document that is refused."""
        if self.max_pages is not None and self.page >= self.max_pages:
            raise TooManyPages(self.max_pages)
        super().add_page(*args, **kwargs)

    def _render_styled_text_line(self, *args: Any, **kwargs: Any) -> bool:
        """Work around fpdf2 2.8.9 (py-pdf/fpdf2#1772, not fully fixed by #1775): when a
        line's first glyph comes from the fallback font, fpdf2 selects the page's font
        inside that line's text object, which it wraps in q/Q when the colours differ, then
        believes the font is still selected and emits no `Tf` for the lines after it: they
        render blank ("No font in show"). Selecting the font on the page first avoids it."""
        font = self.current_font
        if self.page > 0 and font is not None and not self.current_font_is_set_on_page:
            self._out(self._set_font_for_page(font, self.font_size_pt))
        return super()._render_styled_text_line(*args, **kwargs)

    def header(self) -> None:
        if self.page_no() > 1:
            self.set_font(FAMILY, "", 8)
            self.set_text_color(*MUTED)
            self.cell(CONTENT_WIDTH / 2, 5, self.org_name, new_x=XPos.RIGHT, new_y=YPos.TOP)
            self.cell(
                CONTENT_WIDTH / 2,
                5,
                f"{self.labels.name} {self.invoice.number} (continued)",
                align="R",
                new_x=XPos.LMARGIN,
                new_y=YPos.NEXT,
            )
            self._rule()
            self.ln(3)

    def footer(self) -> None:
        self._watermark()
        self.set_y(-14)
        self._rule()
        self.ln(1.5)
        self.set_font(FAMILY, "", 8)
        self.set_text_color(*MUTED)
        self.cell(
            CONTENT_WIDTH / 2,
            4,
            f"{self.labels.name} {self.invoice.number}",
            new_x=XPos.RIGHT,
            new_y=YPos.TOP,
        )
        self.cell(CONTENT_WIDTH / 2, 4, f"Page {self.page_no()} of {{nb}}", align="R")

    def _watermark(self) -> None:
        """The status across the page, translucent and on top, so no cell fill hides it."""
        stamp = STAMPS.get(self.invoice.status)
        if stamp is None:
            return
        text, colour = stamp
        with self.local_context(fill_opacity=0.13, text_color=colour):
            self.set_font(FAMILY, "B", 110 if len(text) <= 4 else 50)
            width = self.get_string_width(text)
            centre_x, centre_y = PAGE_WIDTH / 2, PAGE_HEIGHT / 2
            with self.rotation(35, centre_x, centre_y):
                self.text(centre_x - width / 2, centre_y + 12, text)

    def _rule(self, colour: RGB = RULE, width: float = 0.2) -> None:
        with self.local_context(draw_color=colour, line_width=width):
            self.line(MARGIN, self.get_y(), PAGE_WIDTH - MARGIN, self.get_y())

    def typeset(self, size: float, style: Literal["", "B"] = "", colour: RGB = INK) -> None:
        self.set_font(FAMILY, style, size)
        self.set_text_color(*colour)


def render_invoice_pdf(
    invoice: InvoiceRow,
    lines: Sequence[LineRow],
    *,
    max_pages: int | None = None,
    pdfa: bool = False,
    labels: Labels = INVOICE_LABELS,
) -> bytes:
    """The invoice document. Raises NotRenderable for a draft, TooManyPages past
    `max_pages`. `pdfa`: written under fpdf2's PDF/A-3B checks, as the base of a Factur-X
    document."""
    if invoice.status == "draft" or invoice.number is None:
        raise NotRenderable("A draft has no document; finalize it first.")
    texts = [
        *(str(v) for v in (invoice.org_snapshot or {}).values() if v),
        *(str(v) for v in (invoice.customer_snapshot or {}).values() if v),
        invoice.memo,
        invoice.number,
        *(line.description for line in lines),
        *(tax.display_name for line in lines for tax in line.taxes),
    ]
    pdf = _InvoiceDocument(invoice, choose_faces(texts), max_pages, pdfa=pdfa, labels=labels)
    try:
        pdf.add_page()
        _parties_and_dates(pdf, invoice)
        _line_table(pdf, invoice, lines)
        _summary(pdf, invoice, lines)
        _memo(pdf, invoice.memo)
    except TooManyPages:
        for font in pdf.fonts.values():  # output() closes them; a refused document must too
            close = getattr(font, "close", None)
            if close is not None:
                close()
        raise
    return bytes(pdf.output())


LEFT_WIDTH = 105.0  # the seller and buyer column
RIGHT_X = MARGIN + LEFT_WIDTH + 5  # the title, dates and amount-due column
RIGHT_WIDTH = PAGE_WIDTH - MARGIN - RIGHT_X


def _parties_and_dates(pdf: _InvoiceDocument, invoice: InvoiceRow) -> None:
    """Seller | title, stamp, number and dates; then buyer | amount due."""
    top = pdf.get_y()
    left_bottom = _seller(pdf, invoice.org_snapshot)
    pdf.set_xy(RIGHT_X, top)
    right_bottom = _title(pdf, invoice)
    band = max(left_bottom, right_bottom) + 8
    pdf.set_y(band)
    buyer_bottom = _buyer(pdf, invoice.customer_snapshot)
    box_bottom = _amount_due(pdf, invoice, band)
    pdf.set_y(max(buyer_bottom, box_bottom) + 8)


def _seller(pdf: _InvoiceDocument, org: dict[str, Any] | None) -> float:
    pdf.typeset(15, "B", ACCENT)
    pdf.multi_cell(LEFT_WIDTH, 7, pdf.org_name, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.typeset(9, colour=MUTED)
    vat_id = _text(org, "vat_id")
    for detail in (
        _postal(org, "address"),
        _labelled("Tax ID", _text(org, "tax_id")),
        _labelled("VAT ID", vat_id) if vat_id != _text(org, "tax_id") else "",
        _account(org),
    ):
        if detail:
            pdf.multi_cell(LEFT_WIDTH, 4.4, detail, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return pdf.get_y()


def _title(pdf: _InvoiceDocument, invoice: InvoiceRow) -> float:
    pdf.typeset(22, "B")
    pdf.cell(RIGHT_WIDTH, 9, pdf.labels.title, align="R", new_x=XPos.LEFT, new_y=YPos.NEXT)
    stamp = STAMPS.get(invoice.status)
    if stamp is not None:
        text, colour = stamp
        pdf.ln(1)
        pdf.set_font(FAMILY, "B", 10)
        width = pdf.get_string_width(text) + 6
        with pdf.local_context(draw_color=colour, text_color=colour, line_width=0.6):
            pdf.set_x(PAGE_WIDTH - MARGIN - width)
            pdf.cell(width, 6.5, text, border=1, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.ln(2)
    for label, value in (
        ("Number", invoice.number or ""),
        ("Issue date", _date(invoice.issue_date)),
        (pdf.labels.due_date, _date(invoice.due_date)),
    ):
        if not label:
            continue
        pdf.set_x(RIGHT_X)
        pdf.typeset(9, colour=MUTED)
        pdf.cell(RIGHT_WIDTH / 2, 5, label, new_x=XPos.RIGHT, new_y=YPos.TOP)
        pdf.typeset(9, "B")
        pdf.cell(RIGHT_WIDTH / 2, 5, value, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return pdf.get_y()


def _buyer(pdf: _InvoiceDocument, customer: dict[str, Any] | None) -> float:
    pdf.typeset(8, "B", MUTED)
    pdf.cell(LEFT_WIDTH, 5, "BILL TO", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.typeset(11, "B")
    pdf.multi_cell(
        LEFT_WIDTH, 5.5, _text(customer, "name"), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.typeset(9, colour=MUTED)
    for detail in (
        _postal(customer, "billing_address"),
        _text(customer, "email"),
        _labelled("Tax ID", _text(customer, "tax_id")),
        _labelled("VAT ID", _text(customer, "vat_id")),
    ):
        if detail:
            pdf.multi_cell(LEFT_WIDTH, 4.4, detail, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return pdf.get_y()


def amount_box(invoice: InvoiceRow) -> tuple[str, int, str]:
    """The boxed heading, amount and date line: what is due and when, or, once paid, what
    was paid and when (the day, UTC, the invoice became paid)."""
    if invoice.status == "paid":
        paid_on = invoice.paid_at.date() if invoice.paid_at is not None else None
        return "PAID IN FULL", invoice.total, f"paid on {_date(paid_on)}"
    return "AMOUNT DUE", invoice.amount_due, f"due {_date(invoice.due_date)}"


def _amount_due(pdf: _InvoiceDocument, invoice: InvoiceRow, top: float) -> float:
    height = 21.0
    heading, amount, when = amount_box(invoice)
    if pdf.labels != INVOICE_LABELS:  # a credit note: its own box, its total
        heading = pdf.labels.box
        amount = invoice.total
        when = pdf.labels.box_note.replace("{due_date}", _date(invoice.due_date))
    with pdf.local_context(fill_color=HEADING_FILL):
        pdf.rect(RIGHT_X, top, RIGHT_WIDTH, height, style="F")
    inner = RIGHT_WIDTH - 8
    pdf.set_xy(RIGHT_X + 4, top + 3)
    pdf.typeset(8, "B", MUTED)
    pdf.cell(inner, 4, heading, new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.typeset(15, "B", ACCENT)
    figure = format_amount(amount, invoice.currency)
    pdf.cell(inner, 8, f"{invoice.currency} {figure}", align="R", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.typeset(8, colour=MUTED)
    pdf.cell(inner, 4, when, align="R")
    return top + height


def _discount_text(line: LineRow, currency: str) -> str:
    if line.discount_amount == 0 and line.discount_percent is None:
        return ""
    amount = f"−{format_amount(line.discount_amount, currency)}"
    if line.discount_percent is not None:
        return f"{amount}\n({decimal_text(line.discount_percent)}%)"
    return amount


def _taxes_text(line: LineRow, currency: str) -> str:
    return "\n".join(
        f"{rate_label(tax.display_name, tax.percentage, tax.inclusive)}: "
        f"{format_amount(tax.amount, currency)}"
        for tax in line.taxes
    )


LINE_HEIGHT = 4.2
CELL_PAD_X = 1.5
CELL_PAD_Y = 1.6


def _line_table(pdf: _InvoiceDocument, invoice: InvoiceRow, lines: Sequence[LineRow]) -> None:
    """The lines, laid out by hand: fpdf2's `table()` breaks every cell's text twice (once to
    measure the row, once to draw it), character by character, which was half a render.
    Here a cell is only broken into lines when it is wider than its column."""
    currency = invoice.currency
    pdf.typeset(8, colour=MUTED)
    pdf.cell(
        CONTENT_WIDTH,
        5,
        AMOUNTS_NOTE.format(currency=currency),
        align="R",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    auto_page_break, cell_margin = pdf.auto_page_break, pdf.c_margin
    pdf.set_auto_page_break(False, margin=BOTTOM_MARGIN)  # rows break pages themselves
    pdf.c_margin = 0  # the padding is CELL_PAD_X
    try:
        _table_heading(pdf)
        for index, line in enumerate(lines):
            texts = (
                line.description,
                decimal_text(line.quantity),
                format_amount(line.unit_amount, currency),
                _discount_text(line, currency),
                _taxes_text(line, currency),
                format_amount(line.net, currency),
            )
            pdf.typeset(8.5)
            cells = [
                _cell_lines(pdf, text, width)
                for text, width in zip(texts, LINE_WIDTHS, strict=True)
            ]
            _table_row(pdf, cells, fill=ZEBRA_FILL if index % 2 else None)
    finally:
        pdf.c_margin = cell_margin
        pdf.set_auto_page_break(auto_page_break, margin=BOTTOM_MARGIN)
    pdf.ln(5)


def _cell_lines(pdf: _InvoiceDocument, text: str, width: float) -> list[str]:
    """A cell's text as the lines it takes: its own line breaks, then wrapped to the column."""
    inner = width - 2 * CELL_PAD_X
    out: list[str] = []
    for part in text.split("\n"):
        if pdf.get_string_width(part) <= inner:
            out.append(part)
        else:
            wrapped = pdf.multi_cell(
                inner, LINE_HEIGHT, part, dry_run=True, output=MethodReturnValue.LINES
            )
            assert isinstance(wrapped, list)
            out.extend(wrapped)
    return out


def _table_heading(pdf: _InvoiceDocument) -> None:
    pdf.typeset(8.5, "B", ACCENT)
    _table_row(pdf, [[title] for title in LINE_COLUMNS], fill=HEADING_FILL, heading=True)


def _table_row(
    pdf: _InvoiceDocument, cells: list[list[str]], *, fill: RGB | None, heading: bool = False
) -> None:
    """One row: its cells side by side, a rule below. A row that does not fit the rest of the
    page moves to the next (after the heading again); one taller than a page is split."""
    done, fresh_page = 0, False
    tallest = max(len(cell) for cell in cells)
    while done < tallest:
        room = int((pdf.page_break_trigger - pdf.get_y() - 2 * CELL_PAD_Y) // LINE_HEIGHT)
        if room < tallest - done and not fresh_page:
            pdf.add_page()
            fresh_page = True
            if not heading:
                _table_heading(pdf)
                pdf.typeset(8.5)
            continue
        count = max(1, min(room, tallest - done))
        top = pdf.get_y()
        height = count * LINE_HEIGHT + 2 * CELL_PAD_Y
        if fill is not None:
            with pdf.local_context(fill_color=fill):
                pdf.rect(MARGIN, top, CONTENT_WIDTH, height, style="F")
        x = MARGIN
        for cell, width, align in zip(cells, LINE_WIDTHS, LINE_ALIGN, strict=True):
            for row, text in enumerate(cell[done : done + count]):
                if text:
                    pdf.set_xy(x + CELL_PAD_X, top + CELL_PAD_Y + row * LINE_HEIGHT)
                    pdf.cell(width - 2 * CELL_PAD_X, LINE_HEIGHT, text, align=align[0])
            x += width
        pdf.set_y(top + height)
        pdf._rule()
        done += count
        fresh_page = False


def _summary(pdf: _InvoiceDocument, invoice: InvoiceRow, lines: Sequence[LineRow]) -> None:
    """Totals on the right; the per-rate tax summary on the left, beside them."""
    currency = invoice.currency
    money = functools.partial(format_amount, currency=currency)
    included = sum(tax.amount for line in lines for tax in line.taxes if tax.inclusive)
    totals: list[tuple[str, str, bool]] = [
        ("Subtotal", money(invoice.subtotal), False),
        ("Tax", money(invoice.tax_total), False),
    ]
    if included:
        totals.append(("Less tax included in prices", f"−{money(included)}", False))
    totals += [
        (f"Total ({currency})", money(invoice.total), True),
        (pdf.labels.paid, money(invoice.amount_paid), False),
        (f"{pdf.labels.due} ({currency})", money(invoice.amount_due), True),
    ]
    rates = tax_summary(lines)
    row_height = 6.0
    needed = max(len(totals) * row_height + 4, (len(rates) + 2) * row_height)
    if pdf.get_y() + needed > pdf.page_break_trigger:
        pdf.add_page()
    top, page = pdf.get_y(), pdf.page_no()

    totals_width = 80.0
    totals_x = PAGE_WIDTH - MARGIN - totals_width
    pdf.set_xy(totals_x, top)
    for label, value, strong in totals:
        if strong:
            with pdf.local_context(draw_color=ACCENT, line_width=0.3):
                pdf.line(totals_x, pdf.get_y(), PAGE_WIDTH - MARGIN, pdf.get_y())
        pdf.set_x(totals_x)
        pdf.typeset(9.5 if strong else 9, "B" if strong else "", INK if strong else MUTED)
        pdf.cell(totals_width * 0.6, row_height, label, new_x=XPos.RIGHT, new_y=YPos.TOP)
        pdf.typeset(9.5 if strong else 9, "B" if strong else "", INK)
        pdf.cell(totals_width * 0.4, row_height, value, align="R", new_x=XPos.LMARGIN)
        pdf.set_y(pdf.get_y() + row_height)
    totals_bottom = pdf.get_y()

    if rates:
        pdf.set_xy(MARGIN, top)
        pdf.typeset(8.5)
        headings = FontFace(emphasis="BOLD", color=ACCENT, fill_color=HEADING_FILL)
        with pdf.table(
            col_widths=(38, 32, 22),
            width=92,
            align="LEFT",
            text_align=("LEFT", "RIGHT", "RIGHT"),
            borders_layout=TableBordersLayout.HORIZONTAL_LINES,
            headings_style=headings,
            line_height=4.2,
            padding=(1.2, 1.5),
        ) as table:
            table.row(("Tax summary", "Taxable amount", "Tax"))
            for rate in rates:
                table.row(
                    (
                        rate_label(rate.display_name, rate.percentage, rate.inclusive),
                        money(rate.taxable_amount),
                        money(rate.amount),
                    )
                )
        if pdf.page_no() == page:
            pdf.set_y(max(pdf.get_y(), totals_bottom))
    else:
        pdf.set_y(totals_bottom)
    pdf.ln(6)


def _memo(pdf: _InvoiceDocument, memo: str) -> None:
    if not memo.strip():
        return
    pdf.typeset(8, "B", MUTED)
    pdf.cell(CONTENT_WIDTH, 5, "NOTES", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.typeset(9)
    pdf.multi_cell(CONTENT_WIDTH, 4.6, memo.strip(), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
