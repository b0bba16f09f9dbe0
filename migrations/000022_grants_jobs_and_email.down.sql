REVOKE ALL ON invoice_delivery_recipients, invoice_deliveries FROM penvoice_app;
REVOKE ALL ON pgqueuer_statistics, pgqueuer_schedules, pgqueuer_log, pgqueuer FROM penvoice_app;
REVOKE ALL ON SEQUENCE pgqueuer_id_seq, pgqueuer_schedules_id_seq, pgqueuer_statistics_id_seq
    FROM penvoice_app;
