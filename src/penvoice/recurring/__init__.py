"""Recurring invoices: schedules per customer that create drafts from a template, each
period exactly once; docs/recurring.md."""
