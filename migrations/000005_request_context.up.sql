-- The request's tenant context in one round trip (issue 12): who is asking, and, when an
-- organisation is named, whether they are a member of it. Transaction-local settings, as
-- before; the organisation is entered only for a membership row that exists. SECURITY
-- INVOKER (the default): the membership read goes through row-level security like any other.
CREATE FUNCTION penvoice_enter(p_subject text, p_email text, p_org uuid) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    found_role text;
BEGIN
    PERFORM set_config('penvoice.subject', p_subject, true),
            set_config('penvoice.email', p_email, true);
    IF p_org IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT m.role INTO found_role FROM memberships m
    WHERE m.org_id = p_org AND m.subject = p_subject;
    IF found_role IS NOT NULL THEN
        PERFORM set_config('penvoice.org_id', p_org::text, true);
    END IF;
    RETURN found_role;
END
$$;

-- The API's JSON, built where the rows are (issue 12): timestamps as the API writes them,
-- RFC 3339 in UTC with a "Z" and microseconds only when there are any; decimals without
-- trailing zeros ("2.5", "10").
CREATE FUNCTION penvoice_json_time(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN extract(microseconds FROM t)::bigint % 1000000 = 0 THEN ''
                ELSE to_char(t AT TIME ZONE 'UTC', '.US') END
        || 'Z'
$$;

CREATE FUNCTION penvoice_json_decimal(n numeric) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT trim_scale(n)::text
$$;
