"""Background jobs on PostgreSQL (pgqueuer), enqueued in the transaction of their cause.

`repository.enqueue` inserts a job on the request's own connection, inside its open
transaction: the job commits with the change that caused it, or not at all. `penvoice
worker` (`worker.py`) runs them; see docs/jobs.md.
"""
