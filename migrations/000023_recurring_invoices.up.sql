-- Recurring invoices (issue 14): a schedule per customer, and one run row per period. The
-- run's primary key (schedule, period) is inserted in the transaction that creates the
-- period's draft: a period is generated exactly once, whatever races or restarts. See
-- docs/recurring.md.

CREATE TABLE recurring_schedules (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    customer_id      uuid NOT NULL,
    frequency        text NOT NULL CHECK (frequency IN ('monthly', 'quarterly', 'yearly', 'cron')),
    cron             text CHECK (char_length(cron) <= 200),
    day_of_month     integer CHECK (day_of_month BETWEEN 1 AND 31),
    time_of_day      time NOT NULL DEFAULT '09:00',
    time_zone        text NOT NULL CHECK (char_length(time_zone) <= 64),
    start_date       date NOT NULL,
    end_date         date,
    template         jsonb NOT NULL,
    auto_finalize    boolean NOT NULL DEFAULT false,
    auto_send        boolean NOT NULL DEFAULT false,
    missed_policy    text NOT NULL DEFAULT 'catch_up' CHECK (missed_policy IN ('catch_up', 'skip')),
    enabled          boolean NOT NULL DEFAULT true,
    next_period      integer NOT NULL DEFAULT 0,
    next_run_at      timestamptz,  -- NULL: past the end date, finished
    version          integer NOT NULL DEFAULT 1,
    created_by       text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, customer_id) REFERENCES customers (org_id, id),
    CHECK ((frequency = 'cron') = (cron IS NOT NULL)),
    CHECK (end_date IS NULL OR end_date >= start_date),
    CHECK (auto_finalize OR NOT auto_send)
);
CREATE INDEX recurring_schedules_due_idx ON recurring_schedules (next_run_at)
    WHERE enabled AND next_run_at IS NOT NULL;

CREATE TABLE recurring_runs (
    org_id        uuid NOT NULL,
    schedule_id   uuid NOT NULL,
    period        integer NOT NULL,
    period_date   date NOT NULL,  -- the local date of the period (the invoice's issue date)
    period_at     timestamptz NOT NULL,
    outcome       text NOT NULL CHECK (outcome IN ('created', 'skipped')),
    invoice_id    uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule_id, period),
    FOREIGN KEY (org_id, schedule_id) REFERENCES recurring_schedules (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, invoice_id) REFERENCES invoices (org_id, id) ON DELETE SET NULL (invoice_id)
);

ALTER TABLE recurring_schedules ENABLE ROW LEVEL SECURITY;
ALTER TABLE recurring_schedules FORCE ROW LEVEL SECURITY;
CREATE POLICY recurring_schedules_tenant ON recurring_schedules
    USING (org_id = penvoice_current_org()) WITH CHECK (org_id = penvoice_current_org());
CREATE POLICY recurring_schedules_sweep ON recurring_schedules FOR SELECT
    USING (current_setting('penvoice.system', true) = 'recurring-sweep');
ALTER TABLE recurring_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE recurring_runs FORCE ROW LEVEL SECURITY;
CREATE POLICY recurring_runs_tenant ON recurring_runs
    USING (org_id = penvoice_current_org()) WITH CHECK (org_id = penvoice_current_org());
