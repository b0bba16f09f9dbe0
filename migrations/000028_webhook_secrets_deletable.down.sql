REVOKE DELETE ON webhook_secrets FROM penvoice_app;
