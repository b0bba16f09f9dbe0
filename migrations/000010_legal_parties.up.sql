-- The data a legal e-invoice needs (issue 13, EN 16931 business terms). Expand-only: every
-- column is nullable or has a default, so the previous release keeps reading and writing.

-- Seller (BG-4): legal name (BT-27; `name` stays the trading name), structured postal address
-- (BG-5, jsonb {line1, line2, city, postal_code, subdivision, country}), VAT identifier
-- (BT-31), legal registration identifier (BT-30), contact (BG-6, jsonb {name, phone, email})
-- and the account buyers pay into (BG-17, jsonb {iban, bic, account_name}).
ALTER TABLE organisations
    ADD COLUMN legal_name text NOT NULL DEFAULT '' CHECK (char_length(legal_name) <= 200),
    ADD COLUMN postal_address jsonb CHECK (postal_address IS NULL OR jsonb_typeof(postal_address) = 'object'),
    ADD COLUMN vat_id text NOT NULL DEFAULT '' CHECK (vat_id ~ '^([A-Z]{2}[0-9A-Z+*.]{2,13})?$'),
    ADD COLUMN legal_registration_id text NOT NULL DEFAULT '' CHECK (char_length(legal_registration_id) <= 64),
    ADD COLUMN contact jsonb CHECK (contact IS NULL OR jsonb_typeof(contact) = 'object'),
    ADD COLUMN payment_account jsonb CHECK (payment_account IS NULL OR jsonb_typeof(payment_account) = 'object');

-- Buyer (BG-7): structured address (BG-8), VAT identifier (BT-48), and the buyer reference
-- (BT-10, e.g. XRechnung's Leitweg-ID) used when an invoice names none.
ALTER TABLE customers
    ADD COLUMN postal_address jsonb CHECK (postal_address IS NULL OR jsonb_typeof(postal_address) = 'object'),
    ADD COLUMN vat_id text NOT NULL DEFAULT '' CHECK (vat_id ~ '^([A-Z]{2}[0-9A-Z+*.]{2,13})?$'),
    ADD COLUMN buyer_reference text NOT NULL DEFAULT '' CHECK (char_length(buyer_reference) <= 200);

-- VAT category (BT-118/BT-151) of a tax rate, with the exemption reason (BT-120) and VATEX
-- code (BT-121). NULL: not recorded (rates made before this release); the readiness check
-- reports it.
ALTER TABLE tax_rates
    ADD COLUMN vat_category text CHECK (vat_category IN ('S', 'Z', 'E', 'AE', 'K', 'G', 'O')),
    ADD COLUMN exemption_reason text NOT NULL DEFAULT '' CHECK (char_length(exemption_reason) <= 500),
    ADD COLUMN exemption_code text NOT NULL DEFAULT '' CHECK (exemption_code ~ '^(VATEX-[A-Z0-9-]{1,30})?$');

-- Copied with display name and percentage when a line is priced, so a finalized invoice keeps
-- the category it was issued with. NULL where an older release priced the line.
ALTER TABLE invoice_line_taxes
    ADD COLUMN vat_category text,
    ADD COLUMN exemption_reason text,
    ADD COLUMN exemption_code text;

-- Per invoice: buyer reference (BT-10), purchase order reference (BT-13), and the supply
-- date (BT-72) or the service period (BG-14, BT-73/BT-74).
ALTER TABLE invoices
    ADD COLUMN buyer_reference text NOT NULL DEFAULT '' CHECK (char_length(buyer_reference) <= 200),
    ADD COLUMN purchase_order_reference text NOT NULL DEFAULT '' CHECK (char_length(purchase_order_reference) <= 200),
    ADD COLUMN supply_date date,
    ADD COLUMN period_start date,
    ADD COLUMN period_end date,
    ADD CONSTRAINT invoices_service_period_check
        CHECK ((period_start IS NULL) = (period_end IS NULL) AND period_start <= period_end);
