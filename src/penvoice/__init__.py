"""Penvoice: invoicing API for freelancers and small teams."""

__version__ = "0.1.0"
