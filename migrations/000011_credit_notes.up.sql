-- Credit notes (issue 13): a finalized invoice is corrected by a credit note with its own
-- gapless per-organisation number. Expand-only, with one relaxed constraint: an invoice's
-- amount due is now its total less what was paid and what credit notes took off it.
-- The previous release still writes `amount_due = total - amount_paid` when it records or
-- deletes a payment: on an invoice that already has a credit note the check below refuses
-- that write (the request fails and changes nothing) until the canary is promoted.

ALTER TABLE invoices
    ADD COLUMN amount_credited bigint NOT NULL DEFAULT 0 CHECK (amount_credited >= 0),
    ADD COLUMN amount_refunded bigint NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0);
ALTER TABLE invoices DROP CONSTRAINT invoices_check;  -- was: amount_due = total - amount_paid
ALTER TABLE invoices ADD CONSTRAINT invoices_amount_due_check
    CHECK (amount_due = total - amount_paid - amount_credited AND amount_due >= 0
           AND amount_refunded <= amount_paid);

-- The next credit-note number of each organisation, taken (upserted and so row-locked) in
-- the transaction that issues the credit note: a rolled-back credit note returns it.
CREATE TABLE credit_note_counters (
    org_id      uuid PRIMARY KEY REFERENCES organisations (id) ON DELETE CASCADE,
    next_number bigint NOT NULL DEFAULT 1 CHECK (next_number BETWEEN 1 AND 999999999999)
);

CREATE TABLE credit_notes (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    invoice_id  uuid NOT NULL,
    number      text NOT NULL,
    sequence    bigint NOT NULL,
    issue_date  date NOT NULL,
    reason      text NOT NULL DEFAULT '' CHECK (char_length(reason) <= 1000),
    currency    char(3) NOT NULL,
    subtotal    bigint NOT NULL,
    tax_total   bigint NOT NULL,
    total       bigint NOT NULL CHECK (total > 0),
    applied     bigint NOT NULL CHECK (applied >= 0),   -- taken off the invoice's amount due
    refunded    bigint NOT NULL CHECK (refunded >= 0),  -- paid back to the customer
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL,
    UNIQUE (org_id, id),
    UNIQUE (org_id, number),
    UNIQUE (org_id, sequence),
    FOREIGN KEY (org_id, invoice_id) REFERENCES invoices (org_id, id),
    CHECK (applied + refunded = total)
);
CREATE INDEX credit_notes_invoice_idx ON credit_notes (org_id, invoice_id, sequence);
CREATE INDEX credit_notes_issue_idx ON credit_notes (org_id, issue_date);

-- A credit note's lines: copies of invoice lines (invoice_line_id), or one line for an amount.
CREATE TABLE credit_note_lines (
    org_id          uuid NOT NULL,
    credit_note_id  uuid NOT NULL,
    position        integer NOT NULL CHECK (position >= 0),
    invoice_line_id uuid,
    description     text NOT NULL,
    quantity        numeric(16, 4) NOT NULL CHECK (quantity > 0),
    unit_amount     bigint NOT NULL,
    discount_amount bigint NOT NULL,
    net             bigint NOT NULL,
    tax_amount      bigint NOT NULL,
    total           bigint NOT NULL,
    taxes           jsonb NOT NULL DEFAULT '[]',
    PRIMARY KEY (credit_note_id, position),
    FOREIGN KEY (org_id, credit_note_id) REFERENCES credit_notes (org_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX credit_note_lines_once_idx ON credit_note_lines (org_id, invoice_line_id)
    WHERE invoice_line_id IS NOT NULL;

DO $$
DECLARE
    tenant_table text;
BEGIN
    FOREACH tenant_table IN ARRAY ARRAY['credit_note_counters', 'credit_notes', 'credit_note_lines']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', tenant_table);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', tenant_table);
        EXECUTE format('CREATE POLICY %I ON %I USING (org_id = penvoice_current_org()) '
                       'WITH CHECK (org_id = penvoice_current_org())',
                       tenant_table || '_tenant', tenant_table);
    END LOOP;
END
$$;
