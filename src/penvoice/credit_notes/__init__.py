"""Credit notes (issue 13): corrections of finalized invoices, numbered gaplessly."""
