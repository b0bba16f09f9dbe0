"""Factur-X: the invoice PDF as PDF/A-3 with its CII XML embedded (the `factur-x` library,
profile EN 16931). Imported on the first PDF request, like the renderer."""

from __future__ import annotations

import facturx

from penvoice.invoices.repository import InvoiceRow

FLAVOR = "factur-x"
LEVEL = "en16931"
XML_NAME = "factur-x.xml"


def embed(pdf: bytes, cii: bytes, invoice: InvoiceRow) -> bytes:
    """`pdf` (written under PDF/A-3B rules) with `cii` attached as Factur-X requires: the
    file `factur-x.xml` (AFRelationship Data), the XMP metadata with PDF/A-3B identification
    and the Factur-X extension schema, and an sRGB output intent. The XML is checked against
    the Factur-X XML Schema on the way in."""
    org = invoice.org_snapshot or {}
    metadata = {
        "author": str(org.get("legal_name") or org.get("name") or ""),
        "keywords": "Factur-X, invoice",
        "title": f"Invoice {invoice.number}",
        "subject": f"Factur-X invoice {invoice.number}",
    }
    result: bytes = facturx.generate_from_binary(
        pdf,
        cii,
        flavor=FLAVOR,
        level=LEVEL,
        check_xsd=True,
        pdf_metadata=metadata,
        lang="en",
    )
    return result
