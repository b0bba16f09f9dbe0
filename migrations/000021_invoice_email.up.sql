-- Sending invoices by email (issue 14). A send request is one `invoice_deliveries` row with
-- one `invoice_delivery_recipients` row per address; each recipient's Message-ID is fixed
-- when the request commits, and its `state` is committed before each step of the SMTP
-- exchange, so a worker that crashed can tell "never started the DATA phase" (safe to send
-- again) from "may have been accepted" (never sent again: `unknown`). See docs/email.md.

CREATE TABLE invoice_deliveries (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id        uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    invoice_id    uuid NOT NULL,
    status        text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'sent', 'partially_sent', 'failed', 'unknown')),
    message       text NOT NULL DEFAULT '' CHECK (char_length(message) <= 5000),
    requested_by  text NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, invoice_id) REFERENCES invoices (org_id, id) ON DELETE CASCADE
);
CREATE INDEX invoice_deliveries_invoice_idx
    ON invoice_deliveries (org_id, invoice_id, requested_at DESC, id DESC);

CREATE TABLE invoice_delivery_recipients (
    org_id         uuid NOT NULL,
    delivery_id    uuid NOT NULL,
    position       integer NOT NULL,
    address        text NOT NULL CHECK (char_length(address) <= 320),
    message_id     text NOT NULL UNIQUE,
    -- pending → sending (connecting, MAIL, RCPT) → committing (DATA under way) → sent;
    -- refused (the server said no: 5xx); failed (gave up on transient errors);
    -- unknown (a crash during DATA: it may have arrived, so it is never sent again).
    state          text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'sending', 'committing', 'sent', 'refused', 'failed',
                         'unknown')),
    attempts       integer NOT NULL DEFAULT 0,
    smtp_code      integer,
    smtp_response  text CHECK (char_length(smtp_response) <= 2000),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    sent_at        timestamptz,
    PRIMARY KEY (delivery_id, position),
    UNIQUE (delivery_id, address),
    FOREIGN KEY (org_id, delivery_id) REFERENCES invoice_deliveries (org_id, id) ON DELETE CASCADE
);

-- The latest send's outcome on the invoice itself (NULL: never sent). Nullable: expand-safe.
ALTER TABLE invoices ADD COLUMN delivery_status text
    CHECK (delivery_status IN ('queued', 'sent', 'partially_sent', 'failed', 'unknown'));

ALTER TABLE invoice_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoice_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY invoice_deliveries_tenant ON invoice_deliveries
    USING (org_id = penvoice_current_org()) WITH CHECK (org_id = penvoice_current_org());
ALTER TABLE invoice_delivery_recipients ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoice_delivery_recipients FORCE ROW LEVEL SECURITY;
CREATE POLICY invoice_delivery_recipients_tenant ON invoice_delivery_recipients
    USING (org_id = penvoice_current_org()) WITH CHECK (org_id = penvoice_current_org());
