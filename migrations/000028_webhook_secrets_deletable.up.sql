-- A rotation deletes the secrets that no longer sign (webhooks.repository.add_secret), so an
-- endpoint keeps two rows however often it is rotated: before, every rotation added one and
-- every one still in its overlap signed each delivery (one signature per secret).
GRANT DELETE ON webhook_secrets TO penvoice_app;
