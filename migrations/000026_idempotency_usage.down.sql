DROP TRIGGER idempotency_keys_counted_out ON idempotency_keys;
DROP TRIGGER idempotency_keys_counted_in ON idempotency_keys;
DROP FUNCTION penvoice_count_idempotent_responses();
DROP TABLE idempotency_usage;
