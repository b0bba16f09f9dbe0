-- Performance (issue 7), expand-only: two partial indexes and a planner statistic. No data
-- changes; the previous release runs unchanged against this schema.

-- AR aging as at a date reads the invoices still owed on that day: open or uncollectible
-- (invoices_due_idx), or paid or voided only after it. With an index for each of those
-- three sets the query reads just them (a BitmapOr), not every invoice of the organisation.
CREATE INDEX invoices_paid_at_idx ON invoices (org_id, paid_at) WHERE status = 'paid';
CREATE INDEX invoices_voided_at_idx ON invoices (org_id, voided_at) WHERE status = 'void';

-- An invoice has about ten lines, but ANALYZE's sample sees few lines of any one invoice and
-- estimates ten times fewer distinct invoice_ids (about 95 lines per invoice). For a small
-- organisation the planner then ANDs in a scan of the (org_id, id) index over all of the
-- organisation's lines to fetch one invoice's lines: 1.7 ms instead of 0.2 ms. Distinct
-- invoice_ids are about a tenth of the lines.
ALTER TABLE invoice_lines ALTER COLUMN invoice_id SET (n_distinct = -0.1);
ANALYZE invoice_lines;
