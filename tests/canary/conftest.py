"""The canary lab under pytest: a real Prometheus, real `penvoice serve` pods, the Rollout and
the AnalysisTemplates as committed (see tools/canary_lab and docs/canary-lab.md).

Each scenario runs once per session, on the session's PostgreSQL and issuer, and its outcome
is shared by the tests that look at it. Without Debian's `prometheus` binary the scenario
tests skip, loudly; CI installs it (.ci/run).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from penvoice.dev.issuer import LocalIssuer
from tools.canary_lab.lab import Databases, Outcome, run_scenario
from tools.canary_lab.prometheus import prometheus_binary
from tools.canary_lab.report import write_report
from tools.canary_lab.scenarios import SCENARIOS
from tools.pgserver import OWNER_ROLE, PostgresServer

NO_PROMETHEUS = (
    "PROMETHEUS NOT INSTALLED (/usr/bin/prometheus missing): the canary gate is NOT verified "
    "— apt-get install prometheus"
)

Lab = Callable[[str], tuple[Outcome, dict[str, object]]]


@pytest.fixture(scope="session")
def lab(
    postgres_server: PostgresServer,
    migrated_template: str,
    issuer: LocalIssuer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Lab]:
    """`lab(name)` runs a scenario (once) and returns its outcome and written report."""
    if prometheus_binary() is None:
        pytest.skip(NO_PROMETHEUS)
    databases = Databases(postgres_server, migrated_template, OWNER_ROLE)
    root = Path(tmp_path_factory.mktemp("canary-lab"))
    done: dict[str, tuple[Outcome, dict[str, object]]] = {}

    def run(name: str) -> tuple[Outcome, dict[str, object]]:
        if name not in done:
            outcome = run_scenario(
                SCENARIOS[name], databases=databases, issuer=issuer, workdir=root / name
            )
            done[name] = (outcome, write_report(outcome, root / name))
        return done[name]

    try:
        yield run
    finally:
        databases.drop_all()
