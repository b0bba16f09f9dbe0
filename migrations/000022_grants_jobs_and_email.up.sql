-- What the API and the worker need of the job queue (000020) and the email deliveries
-- (000021), as penvoice_app (000006): the API enqueues jobs in the request's transaction;
-- the worker, as the same role, picks them, logs them and records each delivery. Nothing else.
GRANT SELECT, INSERT, UPDATE, DELETE ON pgqueuer TO penvoice_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON pgqueuer_log TO penvoice_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON pgqueuer_schedules TO penvoice_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON pgqueuer_statistics TO penvoice_app;
GRANT USAGE ON SEQUENCE pgqueuer_id_seq, pgqueuer_schedules_id_seq, pgqueuer_statistics_id_seq
    TO penvoice_app;
GRANT SELECT, INSERT, UPDATE ON invoice_deliveries TO penvoice_app;
GRANT SELECT, INSERT, UPDATE ON invoice_delivery_recipients TO penvoice_app;
