"""An invoice as EN 16931 sees it: parties, lines, VAT breakdown and totals, built from the
stored rows without new arithmetic beyond sums, so the document's figures are the API's.

Pure (no database, no XML): the readiness rules (`rules.py`) and both syntaxes (`cii.py`,
`ubl.py`) read this one model.

How the API's figures map onto EN 16931
---------------------------------------
EN 16931 states every line net of VAT (BT-131) and adds VAT once, in the breakdown. A line
has exactly one VAT rate (BT-151/BT-152). With one tax per line:

- an exclusive-price line: BT-131 = the line's ``net`` (amount less discount); the price
  (BT-146) is the unit amount and the discount a line allowance (BG-27, reason code 95);
- an inclusive-price line: BT-131 = the line's stored ``taxable_amount`` (``net`` less the
  VAT carved out of it); the net price is BT-131 / quantity (more decimals are allowed
  for prices), and the discount is already inside it.

Then BT-106 = Σ BT-131 (BR-CO-10), BT-109 = BT-106 (no document-level allowances),
BT-116 = Σ BT-131 per category and rate (BR-S-08 …), BT-117 = Σ the lines' stored taxes,
BT-110 = Σ BT-117 (BR-CO-14), BT-112 = BT-109 + BT-110 (BR-CO-15) — which equals the API's
``total`` (Σ net + Σ exclusive taxes) exactly — BT-113 = ``amount_paid`` and
BT-115 = ``amount_due`` (BR-CO-16).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from penvoice.legal import DEFAULT_EXEMPTION_CODES
from penvoice.money import minor_digits

Kind = Literal["invoice", "credit_note"]
PRICE_PLACES = 6  # decimals of a derived net price beyond the currency's minor unit


@dataclass(frozen=True)
class Address:
    line1: str
    line2: str
    city: str
    postal_code: str
    subdivision: str
    country: str

    @classmethod
    def of(cls, value: Mapping[str, Any] | None) -> Address | None:
        if not value:
            return None
        return cls(
            str(value.get("line1", "")),
            str(value.get("line2", "")),
            str(value.get("city", "")),
            str(value.get("postal_code", "")),
            str(value.get("subdivision", "")),
            str(value.get("country", "")),
        )


@dataclass(frozen=True)
class Party:
    name: str  # BT-27 / BT-44: the registered name
    trading_name: str  # BT-28, when it differs
    address: Address | None
    vat_id: str  # BT-31 / BT-48
    tax_registration_id: str  # BT-32 (seller only)
    legal_registration_id: str  # BT-30
    contact_name: str = ""
    contact_phone: str = ""
    contact_email: str = ""
    email: str = ""  # electronic address (BT-34 / BT-49)


@dataclass(frozen=True)
class Account:
    iban: str
    bic: str
    name: str


@dataclass(frozen=True)
class Vat:
    category: str | None  # None: the rate has no VAT category yet
    percentage: Decimal
    reason: str
    code: str
    rate_id: str


@dataclass(frozen=True)
class DocLine:
    position: int
    name: str
    quantity: Decimal
    price: int | Decimal  # minor units (int) or an exact derived price (Decimal, minor units)
    allowance: int  # BT-136, minor units
    net: int  # BT-131, minor units
    vats: tuple[Vat, ...]  # the line's taxes; EN 16931 needs exactly one
    tax: int  # the line's VAT, minor units

    @property
    def vat(self) -> Vat | None:
        return self.vats[0] if len(self.vats) == 1 else None


@dataclass(frozen=True)
class Breakdown:
    category: str
    percentage: Decimal
    reason: str
    code: str
    taxable: int  # BT-116
    tax: int  # BT-117


@dataclass(frozen=True)
class Reference:
    number: str
    issue_date: date | None


@dataclass(frozen=True)
class EDocument:
    kind: Kind
    number: str
    issue_date: date | None
    due_date: date | None
    currency: str
    note: str
    buyer_reference: str
    order_reference: str
    supply_date: date | None
    period: tuple[date, date] | None
    seller: Party
    buyer: Party
    account: Account | None
    lines: tuple[DocLine, ...]
    line_total: int  # BT-106 = BT-109
    tax_total: int  # BT-110
    grand_total: int  # BT-112
    prepaid: int  # BT-113
    due: int  # BT-115
    preceding: Reference | None = None
    ids: Mapping[str, str] = field(default_factory=dict)  # org_id, customer_id, invoice_id

    @property
    def digits(self) -> int:
        return minor_digits(self.currency)

    @property
    def categories(self) -> set[str]:
        return {line.vat.category for line in self.lines if line.vat and line.vat.category}

    @property
    def not_subject(self) -> bool:
        """Category O: the document carries no VAT identifiers (BR-O-02)."""
        return "O" in self.categories

    @property
    def deliver_to_country(self) -> str:
        """BT-80, needed for intra-community supplies (BR-IC-12): the buyer's country."""
        if "K" in self.categories and self.buyer.address is not None:
            return self.buyer.address.country
        return ""

    def breakdown(self) -> list[Breakdown]:
        """BG-23: one group per category and rate, in order of first appearance."""
        groups: dict[tuple[str, Decimal], Breakdown] = {}
        for line in self.lines:
            vat = line.vat
            if vat is None or vat.category is None:
                continue
            key = (vat.category, vat.percentage)
            found = groups.get(key)
            if found is None:
                groups[key] = Breakdown(
                    vat.category, vat.percentage, vat.reason, vat.code, line.net, line.tax
                )
            else:
                groups[key] = Breakdown(
                    found.category,
                    found.percentage,
                    found.reason,
                    found.code,
                    found.taxable + line.net,
                    found.tax + line.tax,
                )
        return list(groups.values())


def party(snapshot: Mapping[str, Any] | None, *, seller: bool) -> Party:
    values = snapshot or {}
    name = str(values.get("name") or "")
    legal_name = str(values.get("legal_name") or "") or name
    contact = values.get("contact") or {}
    tax_id = str(values.get("tax_id") or "") if seller else ""
    vat_id = str(values.get("vat_id") or "")
    email = str(contact.get("email") or "") if seller else str(values.get("email") or "")
    return Party(
        name=legal_name,
        trading_name=name if name != legal_name else "",
        address=Address.of(values.get("postal_address")),
        vat_id=vat_id,
        tax_registration_id="" if tax_id.replace(" ", "").upper() == vat_id else tax_id,
        legal_registration_id=str(values.get("legal_registration_id") or ""),
        contact_name=str(contact.get("name") or ""),
        contact_phone=str(contact.get("phone") or ""),
        contact_email=str(contact.get("email") or ""),
        email=email,
    )


def account(snapshot: Mapping[str, Any] | None) -> Account | None:
    value = (snapshot or {}).get("payment_account")
    if not value:
        return None
    return Account(
        str(value.get("iban", "")), str(value.get("bic", "")), str(value.get("account_name", ""))
    )


def doc_line(
    position: int,
    description: str,
    quantity: Decimal,
    unit_amount: int,
    discount_amount: int,
    net: int,
    taxes: Sequence[tuple[Vat, bool, int]],
) -> DocLine:
    """One line from its stored figures; `taxes`: (VAT, inclusive, tax amount) each."""
    inclusive = sum(amount for _, is_inclusive, amount in taxes if is_inclusive)
    if inclusive:
        line_net = net - inclusive
        price: int | Decimal = (Decimal(line_net) / quantity).quantize(
            Decimal(1).scaleb(-PRICE_PLACES), ROUND_HALF_UP
        )
        allowance = 0
    else:
        line_net, price, allowance = net, unit_amount, discount_amount
    return DocLine(
        position=position,
        name=description,
        quantity=quantity,
        price=price,
        allowance=allowance,
        net=line_net,
        vats=tuple(vat for vat, _, _ in taxes),
        tax=sum(amount for _, _, amount in taxes),
    )


def vat(
    category: str | None, percentage: Decimal, reason: str | None, code: str | None, rate_id: str
) -> Vat:
    implied = DEFAULT_EXEMPTION_CODES.get(category or "", "")
    return Vat(category, percentage, reason or "", code or implied, rate_id)


def amount_text(minor: int | Decimal, digits: int) -> str:
    """Minor units as the document writes major units: 4244 → "42.44" (2 digits)."""
    value = Decimal(minor).scaleb(-digits)
    if isinstance(minor, int):
        return f"{value:.{digits}f}"
    text = f"{value.normalize():f}"
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(digits, '0')}" if digits else text


# Characters XML 1.0 cannot carry (C0 controls other than tab, newline and carriage return,
# lone surrogates, U+FFFE/U+FFFF): the API accepts them in free text, the documents replace
# them with U+FFFD rather than fail.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)
