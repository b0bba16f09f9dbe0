-- Organisations are the tenants; memberships tie a Keycloak subject to an organisation
-- with a role. The invoicing domain adds the rest of the organisation's settings.
CREATE TABLE organisations (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
    org_id     uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    subject    text NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 255),
    role       text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, subject)
);

CREATE INDEX memberships_subject_idx ON memberships (subject);
