"""`penvoice serve | worker | migrate | dev | openapi`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence

from penvoice.config import ConfigError, Settings, WorkerSettings


def serve(environ: Mapping[str, str]) -> int:
    """Production entry: configuration only from the environment; fail fast and say why."""
    try:
        settings = Settings.from_environ(environ)
    except ConfigError as exc:
        print(f"penvoice: {exc}", file=sys.stderr)
        return 2
    from penvoice.access import configure_logging  # noqa: PLC0415 - keep `--help` fast
    from penvoice.app import create_app  # noqa: PLC0415
    from penvoice.server import run  # noqa: PLC0415

    configure_logging(settings.log_level)
    run(create_app(settings), settings)
    return 0


def worker(environ: Mapping[str, str]) -> int:
    """The job worker: configuration only from the environment, like `serve`."""
    try:
        settings = WorkerSettings.from_environ(environ)
    except ConfigError as exc:
        print(f"penvoice worker: {exc}", file=sys.stderr)
        return 2
    from penvoice.access import configure_logging  # noqa: PLC0415 - keep `--help` fast
    from penvoice.jobs.registry import job_kinds, periodic_tasks  # noqa: PLC0415
    from penvoice.jobs.worker import run_worker  # noqa: PLC0415

    configure_logging(settings.log_level)
    run_worker(settings, job_kinds(), periodic_tasks())
    return 0


def _openapi() -> int:
    from penvoice.app import create_app  # noqa: PLC0415

    settings = Settings.from_environ(
        {
            "DB_URL": "postgresql://localhost/unused",
            "KC_ISSUER": "http://localhost/realms/unused",
            "KC_AUDIENCE": "penvoice-api",
        }
    )
    print(json.dumps(create_app(settings).openapi(), indent=2, sort_keys=True))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="penvoice", description=__doc__)
    parser.add_argument(
        "command",
        choices=["serve", "worker", "migrate", "dev", "openapi"],
        help="serve: run the API from environment configuration; worker: run the background "
        "jobs (email, webhooks, recurring invoices) from environment configuration; "
        "migrate: golang-migrate "
        "compatible migrations (see `penvoice migrate -help`); dev: run locally on an "
        "embedded PostgreSQL with a local token issuer; openapi: print the OpenAPI document",
    )
    if not args or args[0] in {"-h", "--help"}:
        parser.print_help()
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "migrate":
        from penvoice.migrate.cli import main as migrate_main  # noqa: PLC0415

        return migrate_main(rest)
    parser.parse_args([command])
    if command == "serve":
        return serve(os.environ)
    if command == "worker":
        return worker(os.environ)
    if command == "dev":
        from penvoice.dev.run import main as dev_main  # noqa: PLC0415

        return dev_main(rest)
    return _openapi()


if __name__ == "__main__":
    sys.exit(main())
