"""Every job kind `penvoice worker` runs. A feature adds its kinds here."""

from __future__ import annotations

from penvoice.deliveries.job import SEND_INVOICE_EMAIL
from penvoice.jobs.kinds import JobKind, Periodic
from penvoice.recurring.job import GENERATE_RECURRING, SWEEP_RECURRING
from penvoice.webhooks.job import DELIVER_WEBHOOKS, SWEEP_WEBHOOKS


def job_kinds() -> list[JobKind]:
    return [SEND_INVOICE_EMAIL, DELIVER_WEBHOOKS, GENERATE_RECURRING]


def periodic_tasks() -> list[Periodic]:
    return [SWEEP_WEBHOOKS, SWEEP_RECURRING]
