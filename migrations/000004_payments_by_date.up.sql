-- AR aging as at a date adds back the payments dated after that day: an index finds those
-- few instead of reading every payment of the organisation. Expand-only.
CREATE INDEX payments_paid_on_idx ON payments (org_id, paid_on) WHERE deleted_at IS NULL;
