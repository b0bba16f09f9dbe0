"""The `-help` text: golang-migrate's usage, and where this runner deliberately differs."""

from __future__ import annotations

USAGE = """\
Usage: migrate OPTIONS COMMAND [arg...]
       migrate [ -version | -help ]

Options:
  -source          Location of the migrations (file://path)
  -path            Shorthand for -source=file://path
  -database        Run migrations against this database (postgres:// or postgresql://)
  -prefetch N      Accepted for compatibility and ignored
  -lock-timeout N  Allow N seconds to acquire database lock (default 15)
  -verbose         Print verbose logging
  -version         Print version
  -help            Print usage

Commands:
  goto V       Migrate to version V
  up [N]       Apply all or N up migrations
  down N       Apply N down migrations
  down -all    Apply all down migrations
  force V      Set version V but don't run migration (ignores dirty state)
  version      Print current migration version

Source drivers: file
Database drivers: postgres, postgresql

A Python implementation of golang-migrate v4 for PostgreSQL: same file names
({version}_{title}.up.sql / .down.sql), same schema_migrations table (version,
dirty) in the current schema, same advisory lock key (schema, table and the URL
path including its leading slash), same dirty-state protocol, messages (on
stderr) and exit codes (0 ok or "no change", 1 error, 2 usage). Either tool can
continue the other's work. Where golang-migrate hurts, this one differs:

  -lock-timeout is a real bound. golang-migrate waits in pg_advisory_lock with
     no limit (its timeout does not cover the lock taken when it opens the
     database); here the lock is polled, and after N seconds the command fails
     with "error: timeout: can't acquire database lock" (exit 1).
  SIGTERM and SIGINT never leave a half-applied file or a dirty database.
     golang-migrate traps only SIGINT (then finishes the running file); a
     SIGTERM (Job deleted, sync terminated) can kill it mid-file and leave the
     database dirty. Here either signal stops safely: a running file that is
     one transaction (each file is sent as one multi-statement query, which
     PostgreSQL runs in one implicit transaction) is cancelled, PostgreSQL rolls
     it back and the previous clean version is restored; a file that is not
     provably atomic (COMMIT, END, CALL, CONCURRENTLY, VACUUM, ...) is let
     finish. No further file starts, a lock wait ends, and the command exits 1
     saying at which clean version it left the database.
  down never prompts on stdin (it runs unattended, e.g. in a Kubernetes Job):
     give "down N" or "down -all"; a bare "down" exits 2.
  The password in -database is never printed (masked as xxxxxx). x-* URL
     parameters are removed before connecting; x-migrations-table,
     x-migrations-table-quoted and x-statement-timeout (ms, per file) are
     honoured, x-multi-statement=true is refused, the others are ignored.
  create and drop are not provided; version does not create the table.
"""

SUBCOMMAND_USAGE = {
    "goto": "goto V       Migrate to version V",
    "up": "up [N]       Apply all or N up migrations",
    "down": "down N | down -all    Apply N or all down migrations (never prompts)",
    "force": "force V      Set version V but don't run migration (ignores dirty state)",
    "version": "version      Print current migration version",
}
