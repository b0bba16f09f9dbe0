"""The lab's inputs, read from the gitops slice as committed — never restated in code.

`rollout.yaml` gives the replicas, the canary steps, where background analysis starts, the
probes and the environment's shape; `servicemonitor.yaml` the scrape interval, timeout and
path; `configmap.yaml` the non-secret environment; `analysistemplate*.yaml` the gates. A
field the lab does not model (a `setCanaryScale` step, an inline analysis step, traffic
routing…) is refused loudly instead of being ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from tools.canary_lab.expr import Condition

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = REPO_ROOT / "deploy" / "gitops" / "workloads" / "penvoice"
ROLLOUT_FILE = WORKLOADS / "rollout.yaml"
MONITOR_FILE = WORKLOADS / "servicemonitor.yaml"
CONFIGMAP_FILE = WORKLOADS / "configmap.yaml"
SEED_TEMPLATE_FILE = WORKLOADS / "analysistemplate.yaml"
SCOPED_TEMPLATE_FILE = WORKLOADS / "analysistemplate-canary.yaml"
COMPARE_TEMPLATE_FILE = WORKLOADS / "analysistemplate-compare.yaml"
# The Rollout change that switches the gate to the scoped template (documented, not applied).
SCOPED_ROLLOUT_ANALYSIS_FILE = Path(__file__).resolve().parent / "scoped-rollout-analysis.yaml"

DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4  # argo-rollouts utils/defaults: DefaultConsecutiveErrorLimit
DEFAULT_ERROR_RETRY_INTERVAL = 10.0  # argo-rollouts analysis: DefaultErrorRetryInterval (10 s)
DEFAULT_PROGRESS_DEADLINE = 600.0  # Rollout spec.progressDeadlineSeconds default

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|s|m|h|d|w|y)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "y": 31536000.0,
}


class ManifestError(ValueError):
    """A manifest uses something the lab does not model; the message says what."""


def parse_duration(text: str | int | float) -> float:
    """Seconds in a Go/Kubernetes (`1m30s`, `500ms`) or Prometheus (`1d`) duration."""
    if isinstance(text, int | float):
        return float(text)
    value = text.strip()
    if not value:
        raise ManifestError("empty duration")
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(value):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(value):
        if value.isdigit():  # a bare number is seconds (Argo's DurationString accepts it)
            return float(value)
        raise ManifestError(f"not a duration: {text!r}")
    return total


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as stream:
        return yaml.safe_load(stream)


@dataclass(frozen=True)
class Probe:
    path: str
    period: float
    timeout: float
    failure_threshold: int
    success_threshold: int

    @classmethod
    def from_manifest(cls, probe: dict[str, Any]) -> Probe:
        return cls(
            path=probe["httpGet"]["path"],
            period=float(probe.get("periodSeconds", 10)),
            timeout=float(probe.get("timeoutSeconds", 1)),
            failure_threshold=int(probe.get("failureThreshold", 3)),
            success_threshold=int(probe.get("successThreshold", 1)),
        )


@dataclass(frozen=True)
class Step:
    """One canary step: `setWeight: N` or `pause: {duration: D}`."""

    set_weight: int | None = None
    pause: float | None = None

    def describe(self) -> str:
        if self.set_weight is not None:
            return f"setWeight {self.set_weight}"
        return f"pause {self.pause:g}s"


@dataclass(frozen=True)
class AnalysisArg:
    name: str
    value: str | None = None
    pod_template_hash: str | None = None  # "Stable" or "Latest" (valueFrom.podTemplateHashValue)


@dataclass(frozen=True)
class RolloutSpec:
    name: str
    replicas: int
    steps: tuple[Step, ...]
    starting_step: int
    template_names: tuple[str, ...]
    args: tuple[AnalysisArg, ...]
    startup: Probe
    readiness: Probe
    liveness: Probe
    progress_deadline: float
    image: str
    template: dict[str, Any]
    max_surge: int | str | None = None  # as written (IntOrString); None: Argo's 25 %
    max_unavailable: int | str | None = None

    @property
    def final_weight(self) -> int:
        return 100


def _analysis_args(raw: list[dict[str, Any]] | None) -> tuple[AnalysisArg, ...]:
    args = []
    for arg in raw or []:
        source = arg.get("valueFrom") or {}
        unknown = set(source) - {"podTemplateHashValue"}
        if unknown:
            raise ManifestError(f"analysis arg {arg['name']}: valueFrom {sorted(unknown)}")
        args.append(
            AnalysisArg(
                name=arg["name"],
                value=arg.get("value"),
                pod_template_hash=source.get("podTemplateHashValue"),
            )
        )
    return tuple(args)


def read_rollout(path: Path = ROLLOUT_FILE) -> RolloutSpec:
    doc = load_yaml(path)
    spec = doc["spec"]
    canary = spec["strategy"].get("canary")
    if canary is None:
        raise ManifestError("the lab models the canary strategy only")
    unsupported = set(canary) - {"analysis", "steps", "maxSurge", "maxUnavailable"}
    if unsupported:
        raise ManifestError(f"canary fields the lab does not model: {sorted(unsupported)}")
    steps = []
    for raw in canary["steps"]:
        if set(raw) == {"setWeight"}:
            steps.append(Step(set_weight=int(raw["setWeight"])))
        elif set(raw) == {"pause"} and "duration" in (raw["pause"] or {}):
            steps.append(Step(pause=parse_duration(raw["pause"]["duration"])))
        else:
            raise ManifestError(f"canary step the lab does not model: {raw}")
    analysis = canary.get("analysis") or {}
    (container,) = spec["template"]["spec"]["containers"]
    return RolloutSpec(
        name=doc["metadata"]["name"],
        replicas=int(spec.get("replicas", 1)),
        steps=tuple(steps),
        starting_step=int(analysis.get("startingStep", 0)),
        template_names=tuple(t["templateName"] for t in analysis.get("templates", [])),
        args=_analysis_args(analysis.get("args")),
        startup=Probe.from_manifest(container["startupProbe"]),
        readiness=Probe.from_manifest(container["readinessProbe"]),
        liveness=Probe.from_manifest(container["livenessProbe"]),
        progress_deadline=float(spec.get("progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE)),
        image=container["image"],
        template=spec["template"],
        max_surge=canary.get("maxSurge"),
        max_unavailable=canary.get("maxUnavailable"),
    )


def read_scoped_rollout_args(path: Path = SCOPED_ROLLOUT_ANALYSIS_FILE) -> tuple[AnalysisArg, ...]:
    """The analysis args the Rollout passes when it uses the canary-scoped template."""
    doc = load_yaml(path)
    return _analysis_args(doc["spec"]["strategy"]["canary"]["analysis"].get("args"))


@dataclass(frozen=True)
class Metric:
    name: str
    query: str
    address: str
    interval: float | None
    count: int | None
    failure_limit: int
    inconclusive_limit: int
    consecutive_error_limit: int
    initial_delay: float
    success_condition: Condition | None
    failure_condition: Condition | None

    @property
    def effective_count(self) -> int | None:
        """argo-rollouts Metric.EffectiveCount: none with only an interval (runs until stopped)."""
        if self.count:
            return self.count
        return None if self.interval is not None else 1


@dataclass(frozen=True)
class AnalysisTemplate:
    name: str
    file: Path
    arg_names: tuple[str, ...]
    arg_defaults: dict[str, str]
    metrics: tuple[Metric, ...]


def read_template(path: Path) -> AnalysisTemplate:
    doc = load_yaml(path)
    if doc["kind"] != "AnalysisTemplate":
        raise ManifestError(f"{path.name}: not an AnalysisTemplate")
    spec = doc["spec"]
    unknown_spec = set(spec) - {"metrics", "args"}
    if unknown_spec:
        raise ManifestError(f"{path.name}: spec fields the lab does not model: {unknown_spec}")
    metrics = []
    for raw in spec["metrics"]:
        unknown = set(raw) - {
            "name",
            "interval",
            "count",
            "failureLimit",
            "inconclusiveLimit",
            "consecutiveErrorLimit",
            "initialDelay",
            "successCondition",
            "failureCondition",
            "provider",
        }
        if unknown:
            raise ManifestError(f"{path.name}: metric fields the lab does not model: {unknown}")
        provider = raw["provider"]
        if set(provider) != {"prometheus"}:
            raise ManifestError(f"{path.name}: only the prometheus provider is modelled")
        prometheus = provider["prometheus"]
        metrics.append(
            Metric(
                name=raw["name"],
                query=prometheus["query"],
                address=prometheus.get("address", ""),
                interval=parse_duration(raw["interval"]) if "interval" in raw else None,
                count=int(raw["count"]) if "count" in raw else None,
                failure_limit=int(raw.get("failureLimit", 0)),
                inconclusive_limit=int(raw.get("inconclusiveLimit", 0)),
                consecutive_error_limit=int(
                    raw.get("consecutiveErrorLimit", DEFAULT_CONSECUTIVE_ERROR_LIMIT)
                ),
                initial_delay=parse_duration(raw["initialDelay"]) if "initialDelay" in raw else 0,
                success_condition=Condition.parse(raw["successCondition"])
                if raw.get("successCondition")
                else None,
                failure_condition=Condition.parse(raw["failureCondition"])
                if raw.get("failureCondition")
                else None,
            )
        )
    args = spec.get("args") or []
    return AnalysisTemplate(
        name=doc["metadata"]["name"],
        file=path,
        arg_names=tuple(a["name"] for a in args),
        arg_defaults={a["name"]: a["value"] for a in args if "value" in a},
        metrics=tuple(metrics),
    )


def read_template_named(name: str) -> AnalysisTemplate:
    """The AnalysisTemplate of the gitops slice whose `metadata.name` is `name`."""
    for path in sorted(WORKLOADS.glob("analysistemplate*.yaml")):
        if load_yaml(path)["metadata"]["name"] == name:
            return read_template(path)
    raise ManifestError(f"no AnalysisTemplate named {name} in {WORKLOADS}")


def merge_templates(label: str, templates: list[AnalysisTemplate]) -> AnalysisTemplate:
    """Several templates in one AnalysisRun, as a Rollout listing them runs them: every
    metric of every template, the templates' args together (metric names must differ)."""
    metrics = tuple(m for t in templates for m in t.metrics)
    names = [m.name for m in metrics]
    if len(set(names)) != len(names):
        raise ManifestError(f"{label}: metric names repeat across templates: {names}")
    arg_names = tuple(dict.fromkeys(a for t in templates for a in t.arg_names))
    defaults = {k: v for t in templates for k, v in t.arg_defaults.items()}
    return AnalysisTemplate(
        name=label,
        file=templates[0].file,
        arg_names=arg_names,
        arg_defaults=defaults,
        metrics=metrics,
    )


def hash_scoped(seed: AnalysisTemplate, variant: AnalysisTemplate, label: str) -> AnalysisTemplate:
    """A what-if, not shipped: the seed's query with nothing changed but the canary's hash
    (`label="{{args.<the variant's arg>}}"` in every selector), read at the variant's
    interval and limits — what scoping alone buys."""
    (arg,) = variant.arg_names
    (timing,) = variant.metrics
    matcher = f'{label}="{{{{args.{arg}}}}}"'
    metrics = tuple(
        replace(
            metric,
            query=re.sub(r"(\w+)\{", lambda m: f"{m.group(1)}{{{matcher},", metric.query),
            interval=timing.interval,
            count=timing.count,
            failure_limit=timing.failure_limit,
            consecutive_error_limit=timing.consecutive_error_limit,
        )
        for metric in seed.metrics
    )
    return AnalysisTemplate(
        name=f"{seed.name} + hash filter (what-if)",
        file=seed.file,
        arg_names=(arg,),
        arg_defaults={},
        metrics=metrics,
    )


@dataclass(frozen=True)
class MonitorSpec:
    path: str
    interval: float
    timeout: float
    hash_label: str | None


def read_monitor(path: Path = MONITOR_FILE) -> MonitorSpec:
    doc = load_yaml(path)
    (endpoint,) = doc["spec"]["endpoints"]
    hash_label = None
    for relabel in endpoint.get("relabelings", []):
        if relabel.get("sourceLabels") == [
            "__meta_kubernetes_pod_label_rollouts_pod_template_hash"
        ]:
            hash_label = relabel["targetLabel"]
    if "rollouts-pod-template-hash" in doc["spec"].get("podTargetLabels", []):
        hash_label = "rollouts_pod_template_hash"
    return MonitorSpec(
        path=endpoint.get("path", "/metrics"),
        interval=parse_duration(endpoint.get("interval", "30s")),
        timeout=parse_duration(endpoint.get("scrapeTimeout", "10s")),
        hash_label=hash_label,
    )


def read_configmap(path: Path = CONFIGMAP_FILE) -> dict[str, str]:
    data: dict[str, str] = load_yaml(path)["data"]
    return {key: str(value) for key, value in data.items()}
