"""OASIS UBL 2.1 Invoice and CreditNote as Peppol BIS Billing 3.0 customises them, written
from `model.EDocument` in the UBL schema's element order (the tests run the official
EN 16931 UBL rules over every generated document)."""

from __future__ import annotations

from lxml import etree

from penvoice.einvoices.model import EDocument, Party, amount_text, xml_text
from penvoice.invoices.views import decimal_text

CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
ROOTS = {
    "invoice": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "credit_note": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
}
CUSTOMIZATION = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
UNIT = "C62"


def _cbc(parent: etree._Element, name: str, text: str, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{CBC}}}{name}", attrs)
    element.text = xml_text(text)
    return element


def _cac(parent: etree._Element, name: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{CAC}}}{name}")


def _vat_scheme(parent: etree._Element) -> None:
    _cbc(_cac(parent, "TaxScheme"), "ID", "VAT")


def _party(  # noqa: PLR0912 - one branch per optional business term
    parent: etree._Element, role: str, party: Party, *, vat_ids: bool
) -> None:
    element = _cac(_cac(parent, role), "Party")
    if party.email:
        _cbc(element, "EndpointID", party.email, schemeID="EM")
    if party.trading_name:
        _cbc(_cac(element, "PartyName"), "Name", party.trading_name)
    if party.address is not None:
        address = _cac(element, "PostalAddress")
        if party.address.line1:
            _cbc(address, "StreetName", party.address.line1)
        if party.address.line2:
            _cbc(address, "AdditionalStreetName", party.address.line2)
        if party.address.city:
            _cbc(address, "CityName", party.address.city)
        if party.address.postal_code:
            _cbc(address, "PostalZone", party.address.postal_code)
        if party.address.subdivision:
            _cbc(address, "CountrySubentity", party.address.subdivision)
        _cbc(_cac(address, "Country"), "IdentificationCode", party.address.country)
    if vat_ids and party.vat_id:
        scheme = _cac(element, "PartyTaxScheme")
        _cbc(scheme, "CompanyID", party.vat_id)
        _vat_scheme(scheme)
    if party.tax_registration_id:
        scheme = _cac(element, "PartyTaxScheme")
        _cbc(scheme, "CompanyID", party.tax_registration_id)
        _cbc(_cac(scheme, "TaxScheme"), "ID", "TAX")
    legal = _cac(element, "PartyLegalEntity")
    _cbc(legal, "RegistrationName", party.name)
    if party.legal_registration_id:
        _cbc(legal, "CompanyID", party.legal_registration_id)
    if party.contact_name or party.contact_phone or party.contact_email:
        contact = _cac(element, "Contact")
        if party.contact_name:
            _cbc(contact, "Name", party.contact_name)
        if party.contact_phone:
            _cbc(contact, "Telephone", party.contact_phone)
        if party.contact_email:
            _cbc(contact, "ElectronicMail", party.contact_email)


def render(doc: EDocument) -> bytes:  # noqa: PLR0912, PLR0915 - one branch per business term
    digits, currency = doc.digits, doc.currency
    credit = doc.kind == "credit_note"

    def amount(parent: etree._Element, name: str, value: int) -> None:
        _cbc(parent, name, amount_text(value, digits), currencyID=currency)

    root_ns = ROOTS[doc.kind]
    root = etree.Element(
        f"{{{root_ns}}}{'CreditNote' if credit else 'Invoice'}",
        nsmap={None: root_ns, "cac": CAC, "cbc": CBC},
    )
    _cbc(root, "CustomizationID", CUSTOMIZATION)
    _cbc(root, "ProfileID", PROFILE)
    _cbc(root, "ID", doc.number)
    assert doc.issue_date is not None
    _cbc(root, "IssueDate", doc.issue_date.isoformat())
    if doc.due_date is not None and not credit:
        _cbc(root, "DueDate", doc.due_date.isoformat())
    _cbc(root, "CreditNoteTypeCode" if credit else "InvoiceTypeCode", "381" if credit else "380")
    if doc.note:
        _cbc(root, "Note", doc.note)
    _cbc(root, "DocumentCurrencyCode", currency)
    if doc.buyer_reference:
        _cbc(root, "BuyerReference", doc.buyer_reference)
    if doc.period is not None:
        period = _cac(root, "InvoicePeriod")
        _cbc(period, "StartDate", doc.period[0].isoformat())
        _cbc(period, "EndDate", doc.period[1].isoformat())
    if doc.order_reference:
        _cbc(_cac(root, "OrderReference"), "ID", doc.order_reference)
    if doc.preceding is not None:
        reference = _cac(_cac(root, "BillingReference"), "InvoiceDocumentReference")
        _cbc(reference, "ID", doc.preceding.number)
        if doc.preceding.issue_date is not None:
            _cbc(reference, "IssueDate", doc.preceding.issue_date.isoformat())
    vat_ids = not doc.not_subject
    _party(root, "AccountingSupplierParty", doc.seller, vat_ids=vat_ids)
    _party(root, "AccountingCustomerParty", doc.buyer, vat_ids=vat_ids)
    if doc.supply_date is not None or doc.deliver_to_country:
        delivery = _cac(root, "Delivery")
        if doc.supply_date is not None:
            _cbc(delivery, "ActualDeliveryDate", doc.supply_date.isoformat())
        if doc.deliver_to_country:
            location = _cac(_cac(delivery, "DeliveryLocation"), "Address")
            _cbc(_cac(location, "Country"), "IdentificationCode", doc.deliver_to_country)
    if doc.account is not None:
        means = _cac(root, "PaymentMeans")
        _cbc(means, "PaymentMeansCode", "58" if currency == "EUR" else "30")
        if not credit:
            _cbc(means, "PaymentID", doc.number)
        account = _cac(means, "PayeeFinancialAccount")
        _cbc(account, "ID", doc.account.iban)
        if doc.account.name:
            _cbc(account, "Name", doc.account.name)
        if doc.account.bic:
            _cbc(_cac(account, "FinancialInstitutionBranch"), "ID", doc.account.bic)
    tax_total = _cac(root, "TaxTotal")
    amount(tax_total, "TaxAmount", doc.tax_total)
    for group in doc.breakdown():
        subtotal = _cac(tax_total, "TaxSubtotal")
        amount(subtotal, "TaxableAmount", group.taxable)
        amount(subtotal, "TaxAmount", group.tax)
        category = _cac(subtotal, "TaxCategory")
        _cbc(category, "ID", group.category)
        if group.category != "O":
            _cbc(category, "Percent", decimal_text(group.percentage))
        if group.code:
            _cbc(category, "TaxExemptionReasonCode", group.code)
        if group.reason:
            _cbc(category, "TaxExemptionReason", group.reason)
        _vat_scheme(category)
    totals = _cac(root, "LegalMonetaryTotal")
    amount(totals, "LineExtensionAmount", doc.line_total)
    amount(totals, "TaxExclusiveAmount", doc.line_total)
    amount(totals, "TaxInclusiveAmount", doc.grand_total)
    amount(totals, "PrepaidAmount", doc.prepaid)
    amount(totals, "PayableAmount", doc.due)
    for line in doc.lines:
        vat = line.vat
        assert vat is not None
        assert vat.category is not None
        element = _cac(root, "CreditNoteLine" if credit else "InvoiceLine")
        _cbc(element, "ID", str(line.position + 1))
        quantity = "CreditedQuantity" if credit else "InvoicedQuantity"
        _cbc(element, quantity, decimal_text(line.quantity), unitCode=UNIT)
        amount(element, "LineExtensionAmount", line.net)
        if line.allowance:
            allowance = _cac(element, "AllowanceCharge")
            _cbc(allowance, "ChargeIndicator", "false")
            _cbc(allowance, "AllowanceChargeReasonCode", "95")
            _cbc(allowance, "AllowanceChargeReason", "Discount")
            amount(allowance, "Amount", line.allowance)
        item = _cac(element, "Item")
        _cbc(item, "Name", line.name)
        classified = _cac(item, "ClassifiedTaxCategory")
        _cbc(classified, "ID", vat.category)
        if vat.category != "O":
            _cbc(classified, "Percent", decimal_text(vat.percentage))
        _vat_scheme(classified)
        price = _cac(element, "Price")
        _cbc(price, "PriceAmount", amount_text(line.price, digits), currencyID=currency)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
