"""The European Commission's EN 16931 validation (../shared/en16931): the Schematron rules
compiled to XSLT, run with Saxon (saxonche), and the CII XML Schema, run with lxml.

Compiling the two stylesheets takes seconds, so it happens once per test session. Where
../shared is absent the tests that need it skip, loudly, naming the missing path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "en16931"
CII_XSLT = SHARED / "cii" / "xslt" / "EN16931-CII-validation.xslt"
UBL_XSLT = SHARED / "ubl" / "xslt" / "EN16931-UBL-validation.xslt"
CII_XSD = (
    SHARED
    / "cii"
    / "schema"
    / "D16B SCRDM (Subset)"
    / "uncoupled clm"
    / "CII"
    / "uncefact"
    / "data"
    / "standard"
    / "CrossIndustryInvoice_100pD16B.xsd"
)
SVRL = "{http://purl.oclc.org/dsdl/svrl}"


@dataclass(frozen=True)
class Failure:
    rule: str
    flag: str
    text: str


class Validator:
    def __init__(self, processor: Any) -> None:
        compiler = processor.new_xslt30_processor()
        self._processor = processor
        self._cii = compiler.compile_stylesheet(stylesheet_file=str(CII_XSLT))
        self._ubl = compiler.compile_stylesheet(stylesheet_file=str(UBL_XSLT))
        self._schema = etree.XMLSchema(etree.parse(str(CII_XSD)))

    def _run(self, stylesheet: Any, xml: bytes) -> list[Failure]:
        node = self._processor.parse_xml(xml_text=xml.decode())
        report = stylesheet.transform_to_string(xdm_node=node)
        svrl = etree.fromstring(report.encode())
        return [
            Failure(
                failed.get("id", ""),
                failed.get("flag", ""),
                " ".join(failed.findtext(f"{SVRL}text", "").split()),
            )
            for failed in svrl.iter(f"{SVRL}failed-assert")
        ]

    def cii(self, xml: bytes) -> list[Failure]:
        return self._run(self._cii, xml)

    def ubl(self, xml: bytes) -> list[Failure]:
        return self._run(self._ubl, xml)

    def cii_schema_errors(self, xml: bytes) -> list[str]:
        document = etree.fromstring(xml)
        if self._schema.validate(document):
            return []
        return [f"line {e.line}: {e.message}" for e in self._schema.error_log]


def fatal(failures: list[Failure]) -> list[Failure]:
    return [failure for failure in failures if failure.flag == "fatal"]


@pytest.fixture(scope="session")
def en16931() -> Iterator[Validator]:
    for needed in (CII_XSLT, UBL_XSLT, CII_XSD):
        if not needed.exists():
            pytest.skip(f"EN 16931 VALIDATION NOT RUN: {needed} is missing (../shared absent)")
    from saxonche import PySaxonProcessor

    with PySaxonProcessor(license=False) as processor:
        yield Validator(processor)
