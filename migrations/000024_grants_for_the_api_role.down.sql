REVOKE ALL ON recurring_runs, recurring_schedules, webhook_attempts, webhook_messages,
    webhook_secrets, webhook_endpoints, credit_note_lines, credit_notes, credit_note_counters,
    invoice_delivery_recipients, invoice_deliveries, pgqueuer_statistics, pgqueuer_schedules,
    pgqueuer_log, pgqueuer FROM penvoice_app;
REVOKE ALL ON SEQUENCE webhook_attempts_id_seq, webhook_messages_seq_seq, webhook_secrets_id_seq,
    pgqueuer_statistics_id_seq, pgqueuer_schedules_id_seq, pgqueuer_id_seq FROM penvoice_app;
