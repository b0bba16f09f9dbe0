DROP TABLE credit_note_lines;
DROP TABLE credit_notes;
DROP TABLE credit_note_counters;
ALTER TABLE invoices DROP CONSTRAINT invoices_amount_due_check;
ALTER TABLE invoices ADD CONSTRAINT invoices_check CHECK (amount_due = total - amount_paid);
ALTER TABLE invoices DROP COLUMN amount_refunded, DROP COLUMN amount_credited;
