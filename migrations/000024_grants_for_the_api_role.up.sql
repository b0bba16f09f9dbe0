-- What penvoice_app (000006: the API's role, and the worker's) needs of the tables added since:
-- the job queue (000020), email deliveries (000021), credit notes (000011), webhooks (000022)
-- and recurring invoices (000023). Exactly the statements their repositories run.
GRANT SELECT, INSERT, UPDATE, DELETE ON pgqueuer TO penvoice_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON pgqueuer_log TO penvoice_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON pgqueuer_schedules TO penvoice_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON pgqueuer_statistics TO penvoice_app;
GRANT USAGE ON SEQUENCE pgqueuer_id_seq, pgqueuer_schedules_id_seq, pgqueuer_statistics_id_seq
    TO penvoice_app;
GRANT SELECT, INSERT, UPDATE ON invoice_deliveries TO penvoice_app;
GRANT SELECT, INSERT, UPDATE ON invoice_delivery_recipients TO penvoice_app;
-- Credit notes are never changed or deleted; the counter is upserted.
GRANT SELECT, INSERT, UPDATE ON credit_note_counters TO penvoice_app;
GRANT SELECT, INSERT ON credit_notes TO penvoice_app;
GRANT SELECT, INSERT ON credit_note_lines TO penvoice_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints TO penvoice_app;
GRANT SELECT, INSERT, UPDATE ON webhook_secrets TO penvoice_app;
GRANT SELECT, INSERT, UPDATE ON webhook_messages TO penvoice_app;
GRANT SELECT, INSERT ON webhook_attempts TO penvoice_app;
GRANT USAGE ON SEQUENCE webhook_secrets_id_seq, webhook_messages_seq_seq, webhook_attempts_id_seq
    TO penvoice_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON recurring_schedules TO penvoice_app;
GRANT SELECT, INSERT, UPDATE ON recurring_runs TO penvoice_app;
