"""E-invoices (issue 13): EN 16931 readiness and the CII and UBL documents."""
