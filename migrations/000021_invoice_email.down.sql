ALTER TABLE invoices DROP COLUMN IF EXISTS delivery_status;
DROP TABLE IF EXISTS invoice_delivery_recipients;
DROP TABLE IF EXISTS invoice_deliveries;
