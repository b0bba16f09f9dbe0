-- The size of each recurring schedule's template as JSON text, computed once per write, so the
-- schedule list can end a page at a byte budget without serialising every template it skips.
-- A template may hold 250 lines (about 1.5 MB as text); before this, a list of 100 such
-- schedules answered 154 MB. The table is small (at most QUOTA_RECURRING_SCHEDULES_PER_ORG
-- rows per organisation); adding a stored column rewrites it under an exclusive lock.

ALTER TABLE recurring_schedules
    ADD COLUMN template_bytes integer GENERATED ALWAYS AS (octet_length(template::text)) STORED;
