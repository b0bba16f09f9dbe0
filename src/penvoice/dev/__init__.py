"""Local surroundings for `penvoice dev` and the tests: embedded PostgreSQL, OIDC issuer.

Nothing here is used by `penvoice serve`; the runtime image does not ship `pgserver`.
"""
