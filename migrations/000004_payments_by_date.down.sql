DROP INDEX payments_paid_on_idx;
