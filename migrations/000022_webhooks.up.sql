-- Webhooks (issue 14): endpoints per organisation, their signing secrets (rotated with
-- overlap), one message per (endpoint, event) written in the event's own transaction by
-- `events.repository.append`, and every delivery attempt with the response. See
-- docs/webhooks.md.

CREATE TABLE webhook_endpoints (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    url              text NOT NULL CHECK (char_length(url) <= 2000),
    description      text NOT NULL DEFAULT '' CHECK (char_length(description) <= 500),
    event_types      text[] NOT NULL DEFAULT '{}',  -- empty: every event type
    enabled          boolean NOT NULL DEFAULT true,
    disabled_reason  text,
    failing_since    timestamptz,
    version          integer NOT NULL DEFAULT 1,
    created_by       text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id)
);
CREATE INDEX webhook_endpoints_org_idx ON webhook_endpoints (org_id) WHERE enabled;

CREATE TABLE webhook_secrets (
    id           bigserial PRIMARY KEY,
    org_id       uuid NOT NULL,
    endpoint_id  uuid NOT NULL,
    secret       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,  -- NULL: current; set by a rotation (the overlap's end)
    FOREIGN KEY (org_id, endpoint_id) REFERENCES webhook_endpoints (org_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_secrets_endpoint_idx ON webhook_secrets (endpoint_id);

CREATE TABLE webhook_messages (
    id               text PRIMARY KEY,  -- the webhook-id header: the same on every attempt
    seq              bigserial NOT NULL,  -- delivery order within an endpoint
    org_id           uuid NOT NULL,
    endpoint_id      uuid NOT NULL,
    event_id         bigint NOT NULL,
    event_type       text NOT NULL,
    payload          text NOT NULL,  -- the body, fixed when the event happened
    status           text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    UNIQUE (endpoint_id, event_id),
    FOREIGN KEY (org_id, endpoint_id) REFERENCES webhook_endpoints (org_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_messages_pending_idx ON webhook_messages (endpoint_id, seq)
    WHERE status = 'pending';
CREATE INDEX webhook_messages_log_idx ON webhook_messages (org_id, endpoint_id, seq DESC);

CREATE TABLE webhook_attempts (
    id               bigserial PRIMARY KEY,
    org_id           uuid NOT NULL,
    message_id       text NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    attempted_at     timestamptz NOT NULL DEFAULT now(),
    response_status  integer,
    response_body    text CHECK (char_length(response_body) <= 2000),
    error            text CHECK (char_length(error) <= 2000),
    duration_ms      integer NOT NULL
);
CREATE INDEX webhook_attempts_message_idx ON webhook_attempts (message_id, id);

DO $$
DECLARE
    tenant_table text;
BEGIN
    FOREACH tenant_table IN ARRAY ARRAY['webhook_endpoints', 'webhook_secrets',
        'webhook_messages', 'webhook_attempts']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', tenant_table);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', tenant_table);
        EXECUTE format('CREATE POLICY %I ON %I USING (org_id = penvoice_current_org()) '
                       'WITH CHECK (org_id = penvoice_current_org())',
                       tenant_table || '_tenant', tenant_table);
    END LOOP;
END
$$;

-- The worker's sweep finds endpoints with messages due, across organisations, reading only
-- these columns: a transaction-local setting no request ever sets opens that one read.
CREATE POLICY webhook_messages_sweep ON webhook_messages FOR SELECT
    USING (current_setting('penvoice.system', true) = 'webhook-sweep');
CREATE POLICY webhook_endpoints_sweep ON webhook_endpoints FOR SELECT
    USING (current_setting('penvoice.system', true) = 'webhook-sweep');
