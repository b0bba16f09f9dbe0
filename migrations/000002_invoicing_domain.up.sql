-- The invoicing domain: organisation settings, invitations, customers, tax rates, invoices
-- with lines and taxes, payments, the event trail, idempotency keys, and row-level
-- security on every tenant table. Expand-only: the previous release keeps working.

-- Per-transaction tenant context, set by the API (SET LOCAL semantics via set_config).
CREATE FUNCTION penvoice_current_org() RETURNS uuid
    LANGUAGE sql STABLE AS $$ SELECT NULLIF(current_setting('penvoice.org_id', true), '')::uuid $$;
CREATE FUNCTION penvoice_current_subject() RETURNS text
    LANGUAGE sql STABLE AS $$ SELECT NULLIF(current_setting('penvoice.subject', true), '') $$;
CREATE FUNCTION penvoice_current_email() RETURNS text
    LANGUAGE sql STABLE AS $$ SELECT NULLIF(current_setting('penvoice.email', true), '') $$;

ALTER TABLE organisations
    ADD COLUMN address text NOT NULL DEFAULT '' CHECK (char_length(address) <= 1000),
    ADD COLUMN tax_id text NOT NULL DEFAULT '' CHECK (char_length(tax_id) <= 64),
    ADD COLUMN default_currency char(3) NOT NULL DEFAULT 'EUR' CHECK (default_currency ~ '^[A-Z]{3}$'),
    ADD COLUMN payment_terms_days integer NOT NULL DEFAULT 14 CHECK (payment_terms_days BETWEEN 0 AND 365),
    ADD COLUMN invoice_prefix text NOT NULL DEFAULT 'INV-' CHECK (invoice_prefix ~ '^[A-Za-z0-9/_.-]{0,20}$'),
    ADD COLUMN version integer NOT NULL DEFAULT 1;

CREATE TABLE invoice_number_counters (
    org_id      uuid PRIMARY KEY REFERENCES organisations (id) ON DELETE CASCADE,
    next_number bigint NOT NULL DEFAULT 1 CHECK (next_number BETWEEN 1 AND 999999999999)
);
INSERT INTO invoice_number_counters (org_id) SELECT id FROM organisations;

ALTER TABLE memberships ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

CREATE TABLE invitations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    email       text NOT NULL CHECK (email = lower(email) AND char_length(email) BETWEEN 3 AND 320),
    role        text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    invited_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by text,
    revoked_at  timestamptz
);
CREATE UNIQUE INDEX invitations_pending_email_idx ON invitations (org_id, email)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE INDEX invitations_email_idx ON invitations (email);

CREATE TABLE customers (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    email           text CHECK (char_length(email) <= 320),
    billing_address text NOT NULL DEFAULT '' CHECK (char_length(billing_address) <= 1000),
    tax_id          text NOT NULL DEFAULT '' CHECK (char_length(tax_id) <= 64),
    currency        char(3) CHECK (currency ~ '^[A-Z]{3}$'),
    notes           text NOT NULL DEFAULT '' CHECK (char_length(notes) <= 5000),
    archived_at     timestamptz,
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id)
);
CREATE UNIQUE INDEX customers_email_idx ON customers (org_id, lower(email)) WHERE email IS NOT NULL;
CREATE INDEX customers_list_idx ON customers (org_id, created_at DESC, id DESC);

CREATE TABLE tax_rates (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    display_name text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 100),
    percentage   numeric(7, 4) NOT NULL CHECK (percentage BETWEEN 0 AND 100),
    inclusive    boolean NOT NULL,
    archived_at  timestamptz,
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id)
);
CREATE INDEX tax_rates_list_idx ON tax_rates (org_id, created_at DESC, id DESC);

CREATE TABLE invoices (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id              uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    customer_id         uuid NOT NULL,
    status              text NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
    currency            char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    number              text,
    sequence            bigint,
    issue_date          date,
    due_date            date,
    memo                text NOT NULL DEFAULT '' CHECK (char_length(memo) <= 5000),
    subtotal            bigint NOT NULL DEFAULT 0,
    tax_total           bigint NOT NULL DEFAULT 0,
    total               bigint NOT NULL DEFAULT 0 CHECK (total >= 0),
    amount_paid         bigint NOT NULL DEFAULT 0 CHECK (amount_paid >= 0),
    amount_due          bigint NOT NULL DEFAULT 0,
    org_snapshot        jsonb,
    customer_snapshot   jsonb,
    version             integer NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    created_by          text NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    finalized_at        timestamptz,
    finalized_by        text,
    paid_at             timestamptz,
    voided_at           timestamptz,
    voided_by           text,
    uncollectible_at    timestamptz,
    uncollectible_by    text,
    UNIQUE (org_id, id),
    UNIQUE (org_id, number),
    UNIQUE (org_id, sequence),
    FOREIGN KEY (org_id, customer_id) REFERENCES customers (org_id, id),
    CHECK (amount_due = total - amount_paid),
    CHECK ((status = 'draft') = (number IS NULL)),
    CHECK (status = 'draft' OR (issue_date IS NOT NULL AND due_date IS NOT NULL))
);
CREATE INDEX invoices_list_idx ON invoices (org_id, created_at DESC, id DESC);
CREATE INDEX invoices_status_idx ON invoices (org_id, status, created_at DESC, id DESC);
CREATE INDEX invoices_customer_idx ON invoices (org_id, customer_id, created_at DESC, id DESC);
CREATE INDEX invoices_due_idx ON invoices (org_id, due_date) WHERE status IN ('open', 'uncollectible');

CREATE TABLE invoice_lines (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           uuid NOT NULL,
    invoice_id       uuid NOT NULL,
    position         integer NOT NULL CHECK (position >= 0),
    description      text NOT NULL CHECK (char_length(description) BETWEEN 1 AND 2000),
    quantity         numeric(16, 4) NOT NULL CHECK (quantity > 0),
    unit_amount      bigint NOT NULL CHECK (unit_amount >= 0),
    discount_percent numeric(7, 4) CHECK (discount_percent BETWEEN 0 AND 100),
    discount_fixed   bigint CHECK (discount_fixed >= 0),
    amount           bigint NOT NULL,
    discount_amount  bigint NOT NULL,
    net              bigint NOT NULL,
    tax_amount       bigint NOT NULL,
    total            bigint NOT NULL,
    UNIQUE (org_id, id),
    UNIQUE (invoice_id, position),
    FOREIGN KEY (org_id, invoice_id) REFERENCES invoices (org_id, id) ON DELETE CASCADE,
    CHECK (discount_percent IS NULL OR discount_fixed IS NULL)
);

CREATE TABLE invoice_line_taxes (
    org_id         uuid NOT NULL,
    line_id        uuid NOT NULL,
    tax_rate_id    uuid NOT NULL,
    display_name   text NOT NULL,
    percentage     numeric(7, 4) NOT NULL,
    inclusive      boolean NOT NULL,
    taxable_amount bigint NOT NULL,
    amount         bigint NOT NULL,
    PRIMARY KEY (line_id, tax_rate_id),
    FOREIGN KEY (org_id, line_id) REFERENCES invoice_lines (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, tax_rate_id) REFERENCES tax_rates (org_id, id)
);
CREATE INDEX invoice_line_taxes_rate_idx ON invoice_line_taxes (org_id, tax_rate_id);

CREATE TABLE payments (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL,
    invoice_id  uuid NOT NULL,
    amount      bigint NOT NULL CHECK (amount > 0),
    currency    char(3) NOT NULL,
    paid_on     date NOT NULL,
    method      text NOT NULL CHECK (char_length(method) BETWEEN 1 AND 50),
    reference   text NOT NULL DEFAULT '' CHECK (char_length(reference) <= 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL,
    deleted_at  timestamptz,
    deleted_by  text,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, invoice_id) REFERENCES invoices (org_id, id) ON DELETE CASCADE
);
CREATE INDEX payments_invoice_idx ON payments (org_id, invoice_id, created_at, id);

CREATE TABLE events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    type         text NOT NULL CHECK (type ~ '^[a-z_]+\.[a-z_]+$'),
    actor        text NOT NULL,
    subject_type text NOT NULL,
    subject_id   text NOT NULL,
    data         jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_list_idx ON events (org_id, id DESC);
CREATE INDEX events_subject_idx ON events (org_id, subject_id, id DESC);

CREATE TABLE idempotency_keys (
    subject          text NOT NULL,
    key              text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    fingerprint      text NOT NULL,
    status_code      integer NOT NULL,
    response_body    bytea NOT NULL,
    response_headers jsonb NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Row-level security: defence in depth behind every query's org_id filter. FORCE applies
-- the policies to the table owner too (the API connects as the owner).
ALTER TABLE organisations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organisations FORCE ROW LEVEL SECURITY;
CREATE POLICY organisations_tenant ON organisations
    USING (id = penvoice_current_org()
           OR id IN (SELECT m.org_id FROM memberships m WHERE m.subject = penvoice_current_subject()))
    WITH CHECK (id = penvoice_current_org());

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY memberships_tenant ON memberships
    USING (org_id = penvoice_current_org() OR subject = penvoice_current_subject())
    WITH CHECK (org_id = penvoice_current_org());

ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY invitations_tenant ON invitations
    USING (org_id = penvoice_current_org() OR email = penvoice_current_email())
    WITH CHECK (org_id = penvoice_current_org());

DO $$
DECLARE
    tenant_table text;
BEGIN
    FOREACH tenant_table IN ARRAY ARRAY['invoice_number_counters', 'customers', 'tax_rates',
        'invoices', 'invoice_lines', 'invoice_line_taxes', 'payments', 'events']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', tenant_table);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', tenant_table);
        EXECUTE format('CREATE POLICY %I ON %I USING (org_id = penvoice_current_org()) '
                       'WITH CHECK (org_id = penvoice_current_org())',
                       tenant_table || '_tenant', tenant_table);
    END LOOP;
END
$$;
