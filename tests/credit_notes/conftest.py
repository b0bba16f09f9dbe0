"""Credit-note tests reuse the e-invoice fixtures: a seller with its legal data, and the
official EN 16931 validation."""

from tests.einvoices.conftest import seller as seller
from tests.einvoices.validation import en16931 as en16931
