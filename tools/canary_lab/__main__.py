"""`python -m tools.canary_lab` (`make canary-lab`): run the scenarios, write the reports.

python -m tools.canary_lab                       # every scenario, 15× compressed
python -m tools.canary_lab bad-release --real-time
python -m tools.canary_lab --out out/canary-lab --docs docs/canary-lab
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from penvoice.access import configure_logging
from tools.canary_lab.lab import DEFAULT_FACTOR, run_scenario, standalone_infra
from tools.canary_lab.prometheus import prometheus_binary
from tools.canary_lab.report import write_report
from tools.canary_lab.scenarios import SCENARIOS


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwind: every process is stopped on the way


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.canary_lab", description=__doc__)
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=", ".join(SCENARIOS))
    parser.add_argument("--out", type=Path, default=Path("out/canary-lab"))
    parser.add_argument(
        "--compression",
        type=float,
        default=DEFAULT_FACTOR,
        help=f"cluster seconds per lab second (default {DEFAULT_FACTOR:g})",
    )
    parser.add_argument("--real-time", action="store_true", help="no compression (factor 1)")
    parser.add_argument("--docs", type=Path, help="also copy each chart to DOCS/<scenario>.png")
    args = parser.parse_args(argv)
    if prometheus_binary() is None:
        print(
            "canary lab: prometheus is not installed (apt-get install prometheus)", file=sys.stderr
        )
        return 2
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    factor = 1.0 if args.real_time else args.compression
    names = args.scenarios or list(SCENARIOS)
    configure_logging("warning")
    signal.signal(signal.SIGTERM, _interrupt)
    args.out.mkdir(parents=True, exist_ok=True)
    summary = []
    started = time.monotonic()
    with standalone_infra() as (databases, issuer):
        for name in names:
            directory = args.out / name
            shutil.rmtree(directory, ignore_errors=True)
            outcome = run_scenario(
                SCENARIOS[name],
                databases=databases,
                issuer=issuer,
                workdir=directory,
                factor=factor,
            )
            report = write_report(outcome, directory)
            line = {
                "scenario": name,
                "verdict": report["verdict"]["headline"],
                "gates": {run["label"]: run["verdict"] for run in report["analysis"]},
                "wall_seconds": report["wall_seconds"],
            }
            summary.append(line)
            print(f"{name:22} {line['verdict']:40} {line['gates']}  ({line['wall_seconds']}s)")
            if args.docs is not None:
                args.docs.mkdir(parents=True, exist_ok=True)
                shutil.copy2(directory / "chart.png", args.docs / f"{name}.png")
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"reports in {args.out}/<scenario>/ ({time.monotonic() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
