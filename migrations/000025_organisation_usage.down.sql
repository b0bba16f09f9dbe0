DROP TRIGGER invoice_lines_counted_out ON invoice_lines;
DROP TRIGGER invoice_lines_counted_in ON invoice_lines;
DROP TRIGGER invoices_counted_out ON invoices;
DROP TRIGGER invoices_counted_in ON invoices;
DROP FUNCTION penvoice_count_usage();
DROP TABLE organisation_usage;
