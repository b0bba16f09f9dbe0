"""`penvoice serve`, with two bench-only variations and nothing else changed.

Exactly what `penvoice.cli.serve` does — settings from the environment, JSON logging,
`create_app`, `penvoice.server.run` — so the served package stays untouched, plus:

    --no-metrics   build the app, then give the edge a recorder that records nothing
                   (the cost of the request metrics);
    --profile F    run the server under pyinstrument and write its report to F (.txt and
                   .html) when the server stops (SIGTERM).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from penvoice.access import configure_logging
from penvoice.app import create_app
from penvoice.config import ConfigError, Settings
from penvoice.server import run


class _NoMetrics:
    def observe(self, method: str, route: str, code: int, seconds: float) -> None:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-metrics", action="store_true")
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args()
    try:
        settings = Settings.from_environ(os.environ)
    except ConfigError as exc:
        print(f"penvoice: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    app = create_app(settings)
    if args.no_metrics:
        app.metrics = _NoMetrics()  # type: ignore[assignment]
    if args.profile is None:
        run(app, settings)
        return 0
    from pyinstrument import Profiler  # noqa: PLC0415 - only when profiling

    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    try:
        run(app, settings)
    finally:
        profiler.stop()
        args.profile.with_suffix(".txt").write_text(
            profiler.output_text(unicode=True, color=False, show_all=False, short_mode=False)
        )
        args.profile.with_suffix(".html").write_text(profiler.output_html())
        session = profiler.last_session
        if session is not None:
            session.save(str(args.profile.with_suffix(".pyisession")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
