"""The canary-vs-stable gate as shipped (issue 15): valid against the upstream CRD, passed
the right hashes by the Rollout, tied to the ServiceMonitor's label, to the metrics the app
really exposes and to the seed's address, its queries valid PromQL, and "no data" an Error
by construction (no guard that would turn an empty result into a pass)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import generate_latest

from penvoice.metrics import HttpMetrics
from tests.platform.conftest import the
from tests.platform.test_manifests_validate import _crd_errors, needs_crds
from tools.canary_lab.analysis import ERROR, evaluate
from tools.canary_lab.expr import ExprError
from tools.canary_lab.manifests import (
    COMPARE_TEMPLATE_FILE,
    SEED_TEMPLATE_FILE,
    merge_templates,
    read_monitor,
    read_rollout,
    read_template,
    read_template_named,
)
from tools.canary_lab.prometheus import resolve_args

NAME = "penvoice-canary-vs-stable"
HASH_ARG = {"canary-hash": "Latest", "stable-hash": "Stable"}


@needs_crds
def test_the_comparison_template_validates_against_the_crd() -> None:
    assert _crd_errors(the("AnalysisTemplate", NAME)) == []


@needs_crds
def test_the_rollout_with_both_templates_validates_against_the_crd() -> None:
    assert _crd_errors(the("Rollout")) == []


def test_the_rollout_runs_the_comparison_with_both_hashes() -> None:
    rollout = read_rollout()
    assert rollout.template_names == (NAME,)  # the seed's gate: see rollout.yaml's comment
    passed = {a.name: a.pod_template_hash for a in rollout.args}
    assert passed == HASH_ARG
    template = read_template(COMPARE_TEMPLATE_FILE)
    assert set(template.arg_names) == set(HASH_ARG)
    # Listing the seed's template too (both must pass) stays possible: one AnalysisRun,
    # metric names unique, every arg with a value.
    names = ["penvoice-success-rate", *rollout.template_names]
    merged = merge_templates("run", [read_template_named(n) for n in names])
    assert len(merged.metrics) == 1 + len(template.metrics)
    assert set(merged.arg_names) <= set(passed)


def selectors(query: str) -> list[str]:
    return re.findall(r"\{((?:[^{}]|\{\{[^}]*\}\})*)\}", query)


def test_every_selector_is_one_side_of_the_update_in_the_namespace() -> None:
    (seed,) = read_template(SEED_TEMPLATE_FILE).metrics
    label = read_monitor().hash_label
    assert label == "rollouts_pod_template_hash"
    for metric in read_template(COMPARE_TEMPLATE_FILE).metrics:
        assert metric.address == seed.address
        assert metric.count is None  # background analysis, as the seed's
        assert metric.interval is not None
        assert metric.interval <= 60 / 3, metric.name  # three reads fit in a pause
        found = [s for s in selectors(metric.query) if "namespace=" in s]
        assert found, metric.name
        for selector in found:
            assert 'namespace="penvoice"' in selector
            sides = [arg for arg in HASH_ARG if f'{label}="{{{{args.{arg}}}}}"' in selector]
            assert len(sides) == 1, (metric.name, selector)
        requests = [s for s in found if "{{args." in s and "route=" in s]
        if metric.name != "canary-restarts":
            assert requests, metric.name
            assert all('route=~"/v1/.+"' in s for s in requests), metric.name  # users only
            sides_used = {a for s in found for a in HASH_ARG if f"args.{a}" in s}
            assert sides_used == set(HASH_ARG), metric.name  # a comparison: both sides


def test_no_data_is_an_error_never_a_pass_or_a_nan_failure() -> None:
    for metric in read_template(COMPARE_TEMPLATE_FILE).metrics:
        condition = metric.success_condition
        assert condition is not None
        assert "len(result)" not in str(condition), metric.name  # no silent pass
        with pytest.raises(ExprError, match="no data"):
            condition.evaluate([])
        assert evaluate(metric, [0.0]) != ERROR
        # A NaN could only come from 0/0 or a quantile of nothing: every denominator and
        # every histogram is filtered (`> 0`, `>= 20`).
        divisions = len(re.findall(r"^\s*/\s*$", metric.query, re.M))
        quantiles = metric.query.count("histogram_quantile(")
        filters = len(re.findall(r"\)\s*(?:>|>=)\s*\d+\s*\)", metric.query))
        assert filters >= divisions + quantiles, metric.name
        assert metric.consecutive_error_limit >= 12, metric.name  # two minutes of no data


def test_the_queries_read_metrics_the_app_exposes() -> None:
    metrics = HttpMetrics(version="0", revision="test")
    metrics.observe("GET", "/v1/me", 200, 0.01)
    exposition = generate_latest(metrics.registry).decode()
    exposed = {line.split("{")[0].split(" ")[0] for line in exposition.splitlines() if line}
    for metric in read_template(COMPARE_TEMPLATE_FILE).metrics:
        names = set(re.findall(r"([a-z_]+)\{namespace=", metric.query))
        assert names, metric.name
        assert names <= exposed, (metric.name, names - exposed)


@pytest.mark.slow  # runs promtool
def test_the_queries_are_valid_promql(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed")
    template = read_template(COMPARE_TEMPLATE_FILE)
    values = {"canary-hash": "c1", "stable-hash": "s1"}
    rules = [
        {"record": f"check:{m.name.replace('-', '_')}", "expr": resolve_args(m.query, values)}
        for m in template.metrics
    ]
    broken = [*rules, {"record": "check:broken", "expr": "sum(rate(x[1m])"}]
    for name, group in (("good", rules), ("broken", broken)):
        path = tmp_path / f"{name}.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": name, "rules": group}]}))
        result = subprocess.run(
            [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
        )
        assert (result.returncode == 0) is (name == "good"), result.stdout + result.stderr
