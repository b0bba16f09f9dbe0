DROP TABLE idempotency_keys;
DROP TABLE events;
DROP TABLE payments;
DROP TABLE invoice_line_taxes;
DROP TABLE invoice_lines;
DROP TABLE invoices;
DROP TABLE tax_rates;
DROP TABLE customers;
DROP TABLE invitations;
DROP TABLE invoice_number_counters;
DROP POLICY memberships_tenant ON memberships;
ALTER TABLE memberships NO FORCE ROW LEVEL SECURITY;
ALTER TABLE memberships DISABLE ROW LEVEL SECURITY;
ALTER TABLE memberships DROP COLUMN updated_at;
DROP POLICY organisations_tenant ON organisations;
ALTER TABLE organisations NO FORCE ROW LEVEL SECURITY;
ALTER TABLE organisations DISABLE ROW LEVEL SECURITY;
ALTER TABLE organisations
    DROP COLUMN address,
    DROP COLUMN tax_id,
    DROP COLUMN default_currency,
    DROP COLUMN payment_terms_days,
    DROP COLUMN invoice_prefix,
    DROP COLUMN version;
DROP FUNCTION penvoice_current_email();
DROP FUNCTION penvoice_current_subject();
DROP FUNCTION penvoice_current_org();
