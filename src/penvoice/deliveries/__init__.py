"""Sending invoices by email: the send request (API) and the send job (worker).

docs/email.md says how a crash never sends twice to the same address.
"""
