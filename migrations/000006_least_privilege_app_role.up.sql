-- Least privilege (issue 17): the API connects as penvoice_app, a role that owns nothing and
-- holds exactly the table privileges the code uses. The migrations keep running as the
-- owner, so only they can ALTER a table, change its row-level security or drop a policy; and
-- as a non-owner without BYPASSRLS, penvoice_app meets every policy (FORCE matters only for
-- the owner). Expand-only: the previous release, still connected as the owner, is unaffected.
--
-- The role is cluster-wide and this migration cannot create it (the owner has no CREATEROLE
-- on CNPG): it is a CNPG managed role (deploy/gitops/workloads/penvoice/postgres-cluster.yaml),
-- created by `penvoice dev` and by the tests' fixtures.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'penvoice_app') THEN
        RAISE EXCEPTION 'role penvoice_app does not exist'
            USING HINT = 'Create it first: CNPG spec.managed.roles (postgres-cluster.yaml), '
                         'or CREATE ROLE penvoice_app LOGIN NOSUPERUSER NOBYPASSRLS.';
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'penvoice_app'
               AND (rolsuper OR rolbypassrls OR rolcreaterole OR rolcreatedb)) THEN
        RAISE EXCEPTION 'role penvoice_app must be NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB';
    END IF;
END
$$;

-- Nobody but the owner creates objects in the schema (PostgreSQL 15+ already revokes this).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO penvoice_app;

-- Readiness reads the schema version from golang-migrate's default table (written only by
-- migrations); a run with another -x-migrations-table has nothing to grant here.
DO $$
BEGIN
    IF to_regclass('schema_migrations') IS NOT NULL THEN
        GRANT SELECT ON schema_migrations TO penvoice_app;
    END IF;
END
$$;

-- Exactly what the repositories run; no TRUNCATE, REFERENCES or TRIGGER anywhere.
-- Organisations are never deleted by the API; lines are replaced by DELETE + INSERT and
-- their taxes go with them through ON DELETE CASCADE (run as the owner by PostgreSQL).
GRANT SELECT, INSERT, UPDATE ON organisations TO penvoice_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON memberships TO penvoice_app;
GRANT SELECT, INSERT, UPDATE ON invitations TO penvoice_app;
GRANT SELECT, INSERT, UPDATE ON invoice_number_counters TO penvoice_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON customers TO penvoice_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tax_rates TO penvoice_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON invoices TO penvoice_app;
GRANT SELECT, INSERT, DELETE ON invoice_lines TO penvoice_app;
GRANT SELECT, INSERT ON invoice_line_taxes TO penvoice_app;
-- Payments recorded in error are marked deleted, never deleted.
GRANT SELECT, INSERT, UPDATE ON payments TO penvoice_app;
-- The audit trail is append-only for the API.
GRANT SELECT, INSERT ON events TO penvoice_app;
GRANT SELECT, INSERT, DELETE ON idempotency_keys TO penvoice_app;
