"""Webhooks: endpoints per organisation, signed deliveries of the event trail (Standard
Webhooks), at least once, in order per endpoint; docs/webhooks.md."""
