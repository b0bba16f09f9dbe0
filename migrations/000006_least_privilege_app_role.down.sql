REVOKE ALL ON organisations, memberships, invitations, invoice_number_counters, customers,
    tax_rates, invoices, invoice_lines, invoice_line_taxes, payments, events, idempotency_keys
    FROM penvoice_app;
DO $$
BEGIN
    IF to_regclass('schema_migrations') IS NOT NULL THEN
        REVOKE ALL ON schema_migrations FROM penvoice_app;
    END IF;
END
$$;
REVOKE USAGE ON SCHEMA public FROM penvoice_app;
