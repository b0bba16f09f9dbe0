"""`python -m tools.canary_lab.launch GO_FILE [serve|fault]`: a pre-warmed pod process.

Importing the app takes seconds of CPU here, and time compression cannot shrink it: at 15×,
three seconds of imports would look like 45 s of pod start. So the lab starts each pod's
interpreter ahead of time; it imports the app (then touches GO_FILE with the suffix `.warm`)
and waits, without listening or connecting to anything, until GO_FILE exists — the moment
the controller "creates" the pod. It then runs
exactly what the `penvoice` console script runs (`penvoice.cli.main(["serve"])`), or the
fault shim for a bad release, with the environment it was spawned with.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

POLL_SECONDS = 0.005


def main(argv: list[str]) -> int:
    go_file, entry = Path(argv[0]), argv[1] if len(argv) > 1 else "serve"
    import penvoice.app  # noqa: F401, PLC0415 - the expensive part, done before the go
    from penvoice.cli import main as penvoice_main  # noqa: PLC0415
    from tools.canary_lab import fault  # noqa: PLC0415

    go_file.with_suffix(".warm").touch()  # imported: the lab may create the pod now
    while not go_file.exists():
        time.sleep(POLL_SECONDS)
    if entry == "fault":
        return fault.main()
    return penvoice_main(["serve"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
