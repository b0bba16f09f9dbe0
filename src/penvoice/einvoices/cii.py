"""UN/CEFACT Cross Industry Invoice (D16B), the XML of Factur-X / ZUGFeRD, EN 16931 profile.

Written from `model.EDocument` in the element order of the CII XML Schema (the tests
validate every generated document against it and against the official EN 16931 rules).
"""

from __future__ import annotations

from datetime import date

from lxml import etree

from penvoice.einvoices.model import (
    Address,
    EDocument,
    Party,
    amount_text,
    xml_text,
)
from penvoice.invoices.views import decimal_text

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
NSMAP = {"rsm": RSM, "ram": RAM, "udt": UDT, "qdt": QDT}
GUIDELINE = "urn:cen.eu:en16931:2017"  # Factur-X / ZUGFeRD profile EN 16931 (COMFORT)
TYPE_CODES = {"invoice": "380", "credit_note": "381"}
UNIT = "C62"  # "one": the API's quantities have no unit of measure


def _el(
    parent: etree._Element, ns: str, name: str, text: str | None = None, **attrs: str
) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ns}}}{name}", attrs)
    if text is not None:
        element.text = xml_text(text)
    return element


def _ram(
    parent: etree._Element, name: str, text: str | None = None, **attrs: str
) -> etree._Element:
    return _el(parent, RAM, name, text, **attrs)


def _date(parent: etree._Element, name: str, value: date, ns: str = UDT) -> None:
    holder = _ram(parent, name)
    _el(holder, ns, "DateTimeString", value.strftime("%Y%m%d"), format="102")


def _address(parent: etree._Element, address: Address) -> None:
    element = _ram(parent, "PostalTradeAddress")
    if address.postal_code:
        _ram(element, "PostcodeCode", address.postal_code)
    if address.line1:
        _ram(element, "LineOne", address.line1)
    if address.line2:
        _ram(element, "LineTwo", address.line2)
    if address.city:
        _ram(element, "CityName", address.city)
    _ram(element, "CountryID", address.country)
    if address.subdivision:
        _ram(element, "CountrySubDivisionName", address.subdivision)


def _party(parent: etree._Element, name: str, party: Party, *, vat_ids: bool) -> None:
    element = _ram(parent, name)
    _ram(element, "Name", party.name)
    if party.legal_registration_id or party.trading_name:
        legal = _ram(element, "SpecifiedLegalOrganization")
        if party.legal_registration_id:
            _ram(legal, "ID", party.legal_registration_id)
        if party.trading_name:
            _ram(legal, "TradingBusinessName", party.trading_name)
    if party.contact_name or party.contact_phone or party.contact_email:
        contact = _ram(element, "DefinedTradeContact")
        if party.contact_name:
            _ram(contact, "PersonName", party.contact_name)
        if party.contact_phone:
            _ram(
                _ram(contact, "TelephoneUniversalCommunication"),
                "CompleteNumber",
                party.contact_phone,
            )
        if party.contact_email:
            _ram(_ram(contact, "EmailURIUniversalCommunication"), "URIID", party.contact_email)
    if party.address is not None:
        _address(element, party.address)
    if party.email:
        _ram(_ram(element, "URIUniversalCommunication"), "URIID", party.email, schemeID="EM")
    if vat_ids and party.vat_id:
        _ram(_ram(element, "SpecifiedTaxRegistration"), "ID", party.vat_id, schemeID="VA")
    if party.tax_registration_id:
        registration = _ram(element, "SpecifiedTaxRegistration")
        _ram(registration, "ID", party.tax_registration_id, schemeID="FC")


def render(doc: EDocument) -> bytes:  # noqa: PLR0912, PLR0915 - one branch per business term
    digits = doc.digits

    def money(value: int) -> str:
        return amount_text(value, digits)

    root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=NSMAP)
    context = _el(root, RSM, "ExchangedDocumentContext")
    _ram(_ram(context, "GuidelineSpecifiedDocumentContextParameter"), "ID", GUIDELINE)

    header = _el(root, RSM, "ExchangedDocument")
    _ram(header, "ID", doc.number)
    _ram(header, "TypeCode", TYPE_CODES[doc.kind])
    assert doc.issue_date is not None
    _date(header, "IssueDateTime", doc.issue_date)
    if doc.note:
        _ram(_ram(header, "IncludedNote"), "Content", doc.note)

    transaction = _el(root, RSM, "SupplyChainTradeTransaction")
    for line in doc.lines:
        vat = line.vat
        assert vat is not None
        assert vat.category is not None
        item = _ram(transaction, "IncludedSupplyChainTradeLineItem")
        _ram(_ram(item, "AssociatedDocumentLineDocument"), "LineID", str(line.position + 1))
        _ram(_ram(item, "SpecifiedTradeProduct"), "Name", line.name)
        agreement = _ram(item, "SpecifiedLineTradeAgreement")
        price = _ram(agreement, "NetPriceProductTradePrice")
        _ram(price, "ChargeAmount", amount_text(line.price, digits))
        delivery = _ram(item, "SpecifiedLineTradeDelivery")
        _ram(delivery, "BilledQuantity", decimal_text(line.quantity), unitCode=UNIT)
        settlement = _ram(item, "SpecifiedLineTradeSettlement")
        tax = _ram(settlement, "ApplicableTradeTax")
        _ram(tax, "TypeCode", "VAT")
        _ram(tax, "CategoryCode", vat.category)
        if vat.category != "O":
            _ram(tax, "RateApplicablePercent", decimal_text(vat.percentage))
        if line.allowance:
            allowance = _ram(settlement, "SpecifiedTradeAllowanceCharge")
            _el(_ram(allowance, "ChargeIndicator"), UDT, "Indicator", "false")
            _ram(allowance, "ActualAmount", money(line.allowance))
            _ram(allowance, "ReasonCode", "95")
            _ram(allowance, "Reason", "Discount")
        summation = _ram(settlement, "SpecifiedTradeSettlementLineMonetarySummation")
        _ram(summation, "LineTotalAmount", money(line.net))

    agreement = _ram(transaction, "ApplicableHeaderTradeAgreement")
    if doc.buyer_reference:
        _ram(agreement, "BuyerReference", doc.buyer_reference)
    vat_ids = not doc.not_subject
    _party(agreement, "SellerTradeParty", doc.seller, vat_ids=vat_ids)
    _party(agreement, "BuyerTradeParty", doc.buyer, vat_ids=vat_ids)
    if doc.order_reference:
        order = _ram(agreement, "BuyerOrderReferencedDocument")
        _ram(order, "IssuerAssignedID", doc.order_reference)

    delivery = _ram(transaction, "ApplicableHeaderTradeDelivery")
    if doc.deliver_to_country:
        ship_to = _ram(delivery, "ShipToTradeParty")
        _ram(_ram(ship_to, "PostalTradeAddress"), "CountryID", doc.deliver_to_country)
    if doc.supply_date is not None:
        event = _ram(delivery, "ActualDeliverySupplyChainEvent")
        _date(event, "OccurrenceDateTime", doc.supply_date)

    settlement = _ram(transaction, "ApplicableHeaderTradeSettlement")
    if doc.kind == "invoice":
        _ram(settlement, "PaymentReference", doc.number)
    _ram(settlement, "InvoiceCurrencyCode", doc.currency)
    if doc.account is not None:
        means = _ram(settlement, "SpecifiedTradeSettlementPaymentMeans")
        _ram(means, "TypeCode", "58" if doc.currency == "EUR" else "30")
        account = _ram(means, "PayeePartyCreditorFinancialAccount")
        _ram(account, "IBANID", doc.account.iban)
        if doc.account.name:
            _ram(account, "AccountName", doc.account.name)
        if doc.account.bic:
            institution = _ram(means, "PayeeSpecifiedCreditorFinancialInstitution")
            _ram(institution, "BICID", doc.account.bic)
    for group in doc.breakdown():
        tax = _ram(settlement, "ApplicableTradeTax")
        _ram(tax, "CalculatedAmount", money(group.tax))
        _ram(tax, "TypeCode", "VAT")
        if group.reason:
            _ram(tax, "ExemptionReason", group.reason)
        _ram(tax, "BasisAmount", money(group.taxable))
        _ram(tax, "CategoryCode", group.category)
        if group.code:
            _ram(tax, "ExemptionReasonCode", group.code)
        if group.category != "O":
            _ram(tax, "RateApplicablePercent", decimal_text(group.percentage))
    if doc.period is not None:
        period = _ram(settlement, "BillingSpecifiedPeriod")
        _date(period, "StartDateTime", doc.period[0])
        _date(period, "EndDateTime", doc.period[1])
    if doc.due_date is not None and doc.kind == "invoice":
        _date(_ram(settlement, "SpecifiedTradePaymentTerms"), "DueDateDateTime", doc.due_date)
    totals = _ram(settlement, "SpecifiedTradeSettlementHeaderMonetarySummation")
    _ram(totals, "LineTotalAmount", money(doc.line_total))
    _ram(totals, "TaxBasisTotalAmount", money(doc.line_total))
    _ram(totals, "TaxTotalAmount", money(doc.tax_total), currencyID=doc.currency)
    _ram(totals, "GrandTotalAmount", money(doc.grand_total))
    _ram(totals, "TotalPrepaidAmount", money(doc.prepaid))
    _ram(totals, "DuePayableAmount", money(doc.due))
    if doc.preceding is not None:
        reference = _ram(settlement, "InvoiceReferencedDocument")
        _ram(reference, "IssuerAssignedID", doc.preceding.number)
        if doc.preceding.issue_date is not None:
            _date(reference, "FormattedIssueDateTime", doc.preceding.issue_date, QDT)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
