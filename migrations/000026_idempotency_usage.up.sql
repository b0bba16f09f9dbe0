-- What each user keeps for Idempotency-Keys, kept by triggers like organisation_usage
-- (000025), so the quota (issue 17) reads one row instead of up to 5,000 stored responses on
-- every idempotent write. Keyed by the token's subject like idempotency_keys itself, which
-- has no organisation and no row-level policy; the API's role may only read it.
--
-- The hourly purge deletes many users' rows in one statement: its trigger updates each
-- user's row once and drops the rows that reach zero, so the table holds only users who keep
-- something. Backfill: idempotency_keys has no policy, so the owner counts it directly, in
-- this transaction after the triggers exist (CREATE TRIGGER holds writes off until commit).

CREATE TABLE idempotency_usage (
    subject   text PRIMARY KEY,
    responses bigint NOT NULL DEFAULT 0 CHECK (responses >= 0),
    bytes     bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0)
);
GRANT SELECT ON idempotency_usage TO penvoice_app;

CREATE FUNCTION penvoice_count_idempotent_responses() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO idempotency_usage AS u (subject, responses, bytes)
        SELECT subject, count(*), sum(octet_length(response_body)) FROM added GROUP BY subject
        ON CONFLICT (subject) DO UPDATE
            SET responses = u.responses + excluded.responses, bytes = u.bytes + excluded.bytes;
    ELSE
        UPDATE idempotency_usage u
        SET responses = u.responses - removed_rows.n, bytes = u.bytes - removed_rows.size
        FROM (SELECT subject, count(*) AS n, sum(octet_length(response_body)) AS size
              FROM removed GROUP BY subject) removed_rows
        WHERE u.subject = removed_rows.subject;
        DELETE FROM idempotency_usage
        WHERE responses = 0 AND subject IN (SELECT subject FROM removed);
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION penvoice_count_idempotent_responses() FROM PUBLIC;

CREATE TRIGGER idempotency_keys_counted_in AFTER INSERT ON idempotency_keys
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT
    EXECUTE FUNCTION penvoice_count_idempotent_responses();
CREATE TRIGGER idempotency_keys_counted_out AFTER DELETE ON idempotency_keys
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT
    EXECUTE FUNCTION penvoice_count_idempotent_responses();

INSERT INTO idempotency_usage (subject, responses, bytes)
SELECT subject, count(*), sum(octet_length(response_body)) FROM idempotency_keys GROUP BY subject;
