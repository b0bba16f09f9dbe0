-- What each organisation stores, kept by triggers, so a storage quota (issue 17) is checked by
-- reading one row instead of counting up to 50,000 invoices and 500,000 lines per create.
--
-- Statement-level AFTER triggers add up each statement's rows (transition tables), so a
-- draft with its lines costs one upsert per table, and cascades (a deleted draft's lines)
-- are counted like any other delete. The trigger functions run as the owner (SECURITY
-- DEFINER): the API's role may only read its tenant's row, never write it, and the counts
-- stay right whoever writes invoices (the API, the worker, a seeding superuser) and whether
-- a tenant is entered or not. Row-level security is enabled for the API's role, not forced:
-- the owner's triggers are the table's only writers.
--
-- Concurrency: an insert takes the organisation's row lock until commit, so one tenant's
-- concurrent creates queue behind each other for the rest of their transactions (the
-- statement is the last write of a create) and never behind another tenant's.
--
-- Backfill: the counts of the rows present are taken in this transaction, after the triggers
-- exist; CREATE TRIGGER holds writes off until commit, so no row is counted twice or missed.
-- Reading every tenant's rows needs the owner exempt from its own policies for a moment
-- (NO FORCE, then FORCE again in the same transaction: no other session ever sees it off).
-- The ALTERs hold the three tables exclusively until commit: on the bench database (1.3M
-- invoices, 12.8M lines) the whole migration took 4.4 s, during which requests wait.

CREATE TABLE organisation_usage (
    org_id   uuid PRIMARY KEY REFERENCES organisations (id) ON DELETE CASCADE,
    invoices bigint NOT NULL DEFAULT 0 CHECK (invoices >= 0),
    lines    bigint NOT NULL DEFAULT 0 CHECK (lines >= 0)
);
ALTER TABLE organisation_usage ENABLE ROW LEVEL SECURITY;
CREATE POLICY organisation_usage_tenant ON organisation_usage FOR SELECT
    USING (org_id = penvoice_current_org());
GRANT SELECT ON organisation_usage TO penvoice_app;

-- One function for both tables: a row of `invoices` counts one invoice, a row of
-- `invoice_lines` one line. Inserts upsert (the first invoice of an organisation creates its
-- row); deletes only update, so an organisation deleted with its invoices (ON DELETE
-- CASCADE) leaves no row.
CREATE FUNCTION penvoice_count_usage() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    invoice_rows integer := (TG_TABLE_NAME = 'invoices')::integer;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO organisation_usage AS u (org_id, invoices, lines)
        SELECT org_id, count(*) * invoice_rows, count(*) * (1 - invoice_rows)
        FROM added GROUP BY org_id
        ON CONFLICT (org_id) DO UPDATE
            SET invoices = u.invoices + excluded.invoices, lines = u.lines + excluded.lines;
    ELSE
        UPDATE organisation_usage u
        SET invoices = u.invoices - removed_rows.n * invoice_rows,
            lines = u.lines - removed_rows.n * (1 - invoice_rows)
        FROM (SELECT org_id, count(*) AS n FROM removed GROUP BY org_id) removed_rows
        WHERE u.org_id = removed_rows.org_id;
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION penvoice_count_usage() FROM PUBLIC;

CREATE TRIGGER invoices_counted_in AFTER INSERT ON invoices
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION penvoice_count_usage();
CREATE TRIGGER invoices_counted_out AFTER DELETE ON invoices
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION penvoice_count_usage();
CREATE TRIGGER invoice_lines_counted_in AFTER INSERT ON invoice_lines
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION penvoice_count_usage();
CREATE TRIGGER invoice_lines_counted_out AFTER DELETE ON invoice_lines
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION penvoice_count_usage();

ALTER TABLE organisations NO FORCE ROW LEVEL SECURITY;
ALTER TABLE invoices NO FORCE ROW LEVEL SECURITY;
ALTER TABLE invoice_lines NO FORCE ROW LEVEL SECURITY;
INSERT INTO organisation_usage (org_id, invoices, lines)
SELECT o.id,
       (SELECT count(*) FROM invoices i WHERE i.org_id = o.id),
       (SELECT count(*) FROM invoice_lines l WHERE l.org_id = o.id)
FROM organisations o;
ALTER TABLE organisations FORCE ROW LEVEL SECURITY;
ALTER TABLE invoices FORCE ROW LEVEL SECURITY;
ALTER TABLE invoice_lines FORCE ROW LEVEL SECURITY;
