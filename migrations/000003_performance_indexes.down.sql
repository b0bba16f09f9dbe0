ALTER TABLE invoice_lines ALTER COLUMN invoice_id RESET (n_distinct);
DROP INDEX IF EXISTS invoices_voided_at_idx;
DROP INDEX IF EXISTS invoices_paid_at_idx;
