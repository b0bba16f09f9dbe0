"""The canary-scoped gate as shipped: its AnalysisTemplate, and the Rollout change that would
switch to it, valid against the upstream CRDs (the platform tests' validator), and tied to the
seed's gate and the ServiceMonitor's label so they cannot drift apart."""

from __future__ import annotations

import copy
import re

import yaml

from tests.platform.conftest import the
from tests.platform.test_manifests_validate import _crd_errors, needs_crds
from tools.canary_lab.manifests import (
    SCOPED_ROLLOUT_ANALYSIS_FILE,
    SCOPED_TEMPLATE_FILE,
    SEED_TEMPLATE_FILE,
    read_monitor,
    read_rollout,
    read_scoped_rollout_args,
    read_template,
)

VARIANT = "penvoice-success-rate-canary"


def scoped_rollout() -> dict[str, object]:
    """rollout.yaml with the analysis block of scoped-rollout-analysis.yaml merged in."""
    rollout = copy.deepcopy(the("Rollout"))
    with SCOPED_ROLLOUT_ANALYSIS_FILE.open(encoding="utf-8") as stream:
        patch = yaml.safe_load(stream)
    assert patch["metadata"]["name"] == rollout["metadata"]["name"]
    rollout["spec"]["strategy"]["canary"]["analysis"] = patch["spec"]["strategy"]["canary"][
        "analysis"
    ]
    return rollout


@needs_crds
def test_the_canary_scoped_template_validates_against_the_crd() -> None:
    assert _crd_errors(the("AnalysisTemplate", VARIANT)) == []


@needs_crds
def test_the_rollout_switched_to_the_scoped_template_validates_against_the_crd() -> None:
    assert _crd_errors(scoped_rollout()) == []


def test_the_rollout_change_passes_the_canarys_hash_to_the_templates_argument() -> None:
    analysis = scoped_rollout()["spec"]["strategy"]["canary"]["analysis"]  # type: ignore[index]
    (reference,) = analysis["templates"]
    assert reference["templateName"] == VARIANT
    committed = the("Rollout")["spec"]["strategy"]["canary"]["analysis"]
    assert analysis["startingStep"] == committed["startingStep"]
    template = read_template(SCOPED_TEMPLATE_FILE)
    args = read_scoped_rollout_args()
    assert [a.name for a in args] == list(template.arg_names) == ["canary-hash"]
    assert args[0].pod_template_hash == "Latest"  # the ReplicaSet being rolled out


def test_the_variant_keeps_the_seeds_threshold_and_limits_and_scopes_every_selector() -> None:
    (seed,) = read_template(SEED_TEMPLATE_FILE).metrics
    (variant,) = read_template(SCOPED_TEMPLATE_FILE).metrics
    assert str(seed.success_condition) == "result[0] >= 0.95"
    # The same threshold; an empty result (no user request on the canary yet) passes.
    assert str(variant.success_condition) == "len(result) == 0 || result[0] >= 0.95"
    assert variant.failure_limit == seed.failure_limit == 2
    assert variant.address == seed.address
    assert variant.count is None  # background analysis, like the seed's
    assert variant.interval is not None
    assert variant.interval < 60 / 3  # three reads fit in a 60 s pause
    label = read_monitor().hash_label
    assert label == "rollouts_pod_template_hash"  # what the ServiceMonitor's relabeling writes
    selectors = re.findall(r"http_requests_total\{((?:[^{}]|\{\{[^}]*\}\})*)\}", variant.query)
    assert len(selectors) == 2
    for selector in selectors:
        assert f'{label}="{{{{args.canary-hash}}}}"' in selector
        assert 'namespace="penvoice"' in selector
        assert 'route=~"/v1/.+"' in selector  # user requests only
    numerator, denominator = selectors
    assert numerator == denominator + ',code!~"5.."'
    assert "or vector(0)" in variant.query  # all failed: 0, not an empty (passing) result


def test_the_lab_reads_the_rollout_as_committed() -> None:
    spec = read_rollout()
    raw = the("Rollout")["spec"]
    assert spec.replicas == raw["replicas"]
    assert [s.describe() for s in spec.steps] == [
        f"setWeight {s['setWeight']}" if "setWeight" in s else f"pause {s['pause']['duration']}"
        for s in raw["strategy"]["canary"]["steps"]
    ]
    assert spec.starting_step == raw["strategy"]["canary"]["analysis"]["startingStep"]
    assert spec.template_names == tuple(
        t["templateName"] for t in raw["strategy"]["canary"]["analysis"]["templates"]
    )
    assert spec.template_names == ("penvoice-canary-vs-stable",)
