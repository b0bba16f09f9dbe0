"""The EN 16931 rules an invoice would break, computed from the data (no XSLT at request
time). Each finding names the official rule, what to fix (which resource, which field) and
a sentence. Only rules the API's data can break are checked: the rest hold by construction
(the document writers derive every sum from the same model, and the tests run the official
Schematron over generated documents to prove it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from penvoice.einvoices.model import EDocument

MAX_DIGITS = 2  # EN 16931 amounts have at most two decimals (BR-DEC-*)
Add = Callable[[str, str, str, str, str], None]  # rule, resource, resource id, field, message


@dataclass(frozen=True)
class Violation:
    rule: str
    resource: str  # organisation, customer, invoice or tax_rate
    resource_id: str
    field: str
    message: str


def check(doc: EDocument) -> list[Violation]:
    found: list[Violation] = []
    org, customer, invoice = doc.ids["org_id"], doc.ids["customer_id"], doc.ids["invoice_id"]

    def add(rule: str, resource: str, resource_id: str, field: str, message: str) -> None:
        found.append(Violation(rule, resource, resource_id, field, message))

    if doc.digits > MAX_DIGITS:
        add(
            "BR-DEC-09",
            "invoice",
            invoice,
            "currency",
            f"{doc.currency} has {doc.digits} minor digits; EN 16931 amounts have at most two "
            "decimals, so this invoice cannot be an e-invoice.",
        )
    if not doc.lines:
        add("BR-16", "invoice", invoice, "lines", "An invoice needs at least one line.")
    if doc.seller.address is None:
        add(
            "BR-08",
            "organisation",
            org,
            "postal_address",
            "The seller's postal address (with its country) is missing.",
        )
    if doc.buyer.address is None:
        add(
            "BR-10",
            "customer",
            customer,
            "postal_address",
            "The buyer's postal address (with its country) is missing.",
        )
    seller_vat = "" if doc.not_subject else doc.seller.vat_id
    if not (seller_vat or doc.seller.legal_registration_id):
        why = " (VAT identifiers are left out when VAT does not apply)" if doc.not_subject else ""
        add(
            "BR-CO-26",
            "organisation",
            org,
            "legal_registration_id" if doc.not_subject else "vat_id",
            f"The seller needs a VAT identifier or a legal registration identifier{why}.",
        )
    _lines(doc, add)
    _categories(doc, add)
    _rounding(doc, add)
    return found


def _lines(doc: EDocument, add: Add) -> None:
    invoice = doc.ids["invoice_id"]
    for line in doc.lines:
        field = f"lines.{line.position}.tax_rate_ids"
        if not line.vats:
            add(
                "BR-CO-04",
                "invoice",
                invoice,
                field,
                f"Line {line.position + 1} has no VAT rate; every line needs exactly one.",
            )
        elif len(line.vats) > 1:
            add(
                "BR-CO-04",
                "invoice",
                invoice,
                field,
                f"Line {line.position + 1} has {len(line.vats)} tax rates; EN 16931 allows "
                "exactly one VAT rate per line.",
            )
        elif line.vats[0].category is None:
            add(
                "BR-CO-04",
                "tax_rate",
                line.vats[0].rate_id,
                "vat_category",
                f"The tax rate of line {line.position + 1} has no VAT category.",
            )


def _categories(doc: EDocument, add: Add) -> None:  # noqa: PLR0912 - one branch per rule
    org, customer, invoice = doc.ids["org_id"], doc.ids["customer_id"], doc.ids["invoice_id"]
    categories = doc.categories
    seller, buyer = doc.seller, doc.buyer
    names = {
        "S": ("BR-S-02", "standard rated"),
        "Z": ("BR-Z-02", "zero rated"),
        "E": ("BR-E-02", "exempt"),
        "AE": ("BR-AE-02", "reverse charge"),
    }
    for category, (rule, name) in names.items():
        if category in categories and not (seller.vat_id or seller.tax_registration_id):
            add(
                rule,
                "organisation",
                org,
                "vat_id",
                f"A {name} line needs the seller's VAT identifier or tax registration id.",
            )
    if "G" in categories and not seller.vat_id:
        add("BR-G-02", "organisation", org, "vat_id", "An export needs the seller's VAT id.")
    if "K" in categories and not seller.vat_id:
        add(
            "BR-IC-02",
            "organisation",
            org,
            "vat_id",
            "An intra-community supply needs the seller's VAT identifier.",
        )
    if "AE" in categories and not buyer.vat_id:
        add("BR-AE-02", "customer", customer, "vat_id", "Reverse charge needs the buyer's VAT id.")
    if "K" in categories:
        if not buyer.vat_id:
            add(
                "BR-IC-02",
                "customer",
                customer,
                "vat_id",
                "An intra-community supply needs the buyer's VAT identifier.",
            )
        if doc.supply_date is None and doc.period is None:
            add(
                "BR-IC-11",
                "invoice",
                invoice,
                "supply_date",
                "An intra-community supply needs the supply date or the service period.",
            )
    if "O" in categories and len(categories) > 1:
        add(
            "BR-O-11",
            "invoice",
            invoice,
            "lines",
            "A line outside the scope of VAT (O) cannot share an invoice with other VAT "
            "categories; invoice them separately.",
        )
    for line in doc.lines:
        vat = line.vat
        if vat and vat.category in {"E", "AE", "K", "G", "O"} and not (vat.reason or vat.code):
            rule = {"K": "BR-IC-10"}.get(vat.category, f"BR-{vat.category}-10")
            add(
                rule,
                "tax_rate",
                vat.rate_id,
                "exemption_reason",
                f"Category {vat.category} needs an exemption reason or a VATEX code.",
            )
    seen: dict[tuple[str, Decimal], tuple[str, str]] = {}
    for line in doc.lines:
        vat = line.vat
        if vat is None or vat.category is None:
            continue
        reason = seen.setdefault((vat.category, vat.percentage), (vat.reason, vat.code))
        if reason != (vat.reason, vat.code):
            add(
                "BR-CO-18",
                "tax_rate",
                vat.rate_id,
                "exemption_reason",
                f"Two rates of category {vat.category} at {vat.percentage} % give different "
                "exemption reasons; an invoice has one per category and rate.",
            )


def _rounding(doc: EDocument, add: Add) -> None:
    """BR-S-09, BR-CO-17: each group's VAT must be within one currency unit of its taxable
    amount times its rate. The API rounds each line's VAT, so many lines in a currency
    without minor units (JPY) can drift past that."""
    if doc.digits > MAX_DIGITS:
        return
    unit = Decimal(10) ** doc.digits
    for group in doc.breakdown():
        taxable = Decimal(group.taxable) / unit
        expected = (taxable * group.percentage / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
        if abs(Decimal(group.tax) / unit - expected) >= 1:
            add(
                "BR-CO-17",
                "invoice",
                doc.ids["invoice_id"],
                "lines",
                f"The VAT of the lines at {group.percentage} % ({group.category}), rounded "
                f"line by line, differs from {expected} by a currency unit or more; fewer "
                "lines at this rate (or a currency with minor units) fix it.",
            )
