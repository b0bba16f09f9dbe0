"""Every object under deploy/gitops validates: core kinds with `kubernetes-validate --strict`
against Kubernetes 1.34, custom resources against their upstream CRD's openAPIV3Schema from
`../shared/k8s-crds/` (made strict: unknown fields are errors, as with kubectl's strict field
validation). The pod templates inside the Rollout and the Job are also validated as core
PodTemplateSpecs.
"""

from __future__ import annotations

import copy
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.platform.conftest import (
    CRD_DIR,
    Manifest,
    load_yaml_documents,
    manifests,
    the,
    venv_tool,
)

KUBERNETES_VERSION = "1.34.0"
CORE_KINDS = {
    "Namespace",
    "ConfigMap",
    "Job",
    "Deployment",
    "Service",
    "Ingress",
    "PodDisruptionBudget",
    "NetworkPolicy",
}
CUSTOM_KINDS = {
    ("argoproj.io", "Application"),
    ("argoproj.io", "Rollout"),
    ("argoproj.io", "AnalysisTemplate"),
    ("monitoring.coreos.com", "ServiceMonitor"),
    ("postgresql.cnpg.io", "Cluster"),
    ("postgresql.cnpg.io", "ScheduledBackup"),
}
# No upstream CRD schema for these in ../shared/k8s-crds: validated against the structural
# schemas below (written here from Traefik v3's documented Middleware fields), not upstream's.
STRUCTURAL_KINDS = {("traefik.io", "Middleware")}
METADATA_FIELDS = {"name", "namespace", "labels", "annotations", "finalizers"}


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def test_every_object_is_a_known_kind() -> None:
    kinds = {(_group(doc["apiVersion"]), doc["kind"]) for _, doc in manifests()}
    core = {(group, kind) for group, kind in kinds if kind in CORE_KINDS}
    assert kinds == core | CUSTOM_KINDS | STRUCTURAL_KINDS


# --- core kinds: kubernetes-validate --------------------------------------------------------


def _kubernetes_validate(objects: list[Manifest], tmp_path: Path) -> tuple[int, str, int]:
    files = []
    for index, obj in enumerate(objects):
        path = tmp_path / f"{index:02d}-{obj['kind'].lower()}.yaml"
        path.write_text(yaml.safe_dump(obj), encoding="utf-8")
        files.append(str(path))
    result = subprocess.run(
        [venv_tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr, len(files)


def _pod_template_as_deployment(obj: Manifest) -> Manifest:
    """A Rollout's or Job's pod template inside a Deployment, so the core schema checks it."""
    template = copy.deepcopy(obj["spec"]["template"])
    template["spec"]["restartPolicy"] = "Always"
    labels = template.setdefault("metadata", {}).setdefault("labels", {"app": "x"})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{obj['metadata']['name']}-template"},
        "spec": {"selector": {"matchLabels": labels}, "template": template},
    }


@pytest.mark.slow
def test_core_manifests_pass_kubernetes_validate_strict(tmp_path: Path) -> None:
    core = [doc for _, doc in manifests() if doc["kind"] in CORE_KINDS]
    assert {doc["kind"] for doc in core} == CORE_KINDS
    templates = [
        _pod_template_as_deployment(the("Rollout")),
        _pod_template_as_deployment(the("Job")),
    ]
    code, output, count = _kubernetes_validate(core + templates, tmp_path)
    assert code == 0, output
    # The CLI only warns (exit 0) for a kind it has no schema for: demand a pass per object.
    assert output.count(" passed for resource ") == count, output
    assert "WARN" not in output, output
    assert "ERROR" not in output, output


@pytest.mark.slow
def test_kubernetes_validate_strict_rejects_an_unknown_field(tmp_path: Path) -> None:
    """Negative control: a misspelt field in a Service fails the same call."""
    service = the("Service", "penvoice-api")
    service["spec"]["selectr"] = service["spec"].pop("selector")
    code, output, _ = _kubernetes_validate([service], tmp_path)
    assert code != 0, output
    assert "selectr" in output


# --- custom resources: upstream CRD schemas ------------------------------------------------


def _strict(schema: Any) -> Any:
    """Structural schema → JSON Schema that refuses fields the CRD does not declare."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in strict
        and "additionalProperties" not in strict
        and not strict.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


@cache
def _crd_schemas() -> dict[tuple[str, str, str], dict[str, Any]]:
    schemas = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for crd in load_yaml_documents(path):
            if crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version.get("served"):
                    schema = version["schema"]["openAPIV3Schema"]
                    schemas[(group, version["name"], kind)] = _strict(schema)
    return schemas


def _crd_errors(obj: Manifest) -> list[str]:
    group, _, version = obj["apiVersion"].rpartition("/")
    schema = _crd_schemas().get((group, version, obj["kind"]))
    assert schema is not None, f"no served CRD version for {obj['apiVersion']} {obj['kind']}"
    validator = jsonschema.Draft7Validator(schema)
    errors = [
        f"{'.'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(obj)
    ]
    unknown = set(obj["metadata"]) - METADATA_FIELDS
    errors += [f"metadata.{name}: not an ObjectMeta field used here" for name in unknown]
    return errors


needs_crds = pytest.mark.skipif(
    not CRD_DIR.is_dir(),
    reason=f"CRD SCHEMAS ABSENT: {CRD_DIR} not found; custom resources NOT validated",
)


@needs_crds
@pytest.mark.parametrize(
    ("group", "kind"), sorted(CUSTOM_KINDS), ids=[k for _, k in sorted(CUSTOM_KINDS)]
)
def test_custom_resources_validate_against_their_crds(group: str, kind: str) -> None:
    objects = [
        doc for _, doc in manifests() if doc["kind"] == kind and _group(doc["apiVersion"]) == group
    ]
    assert objects, f"no {kind} in deploy/gitops"
    for obj in objects:
        assert _crd_errors(obj) == [], obj["metadata"]["name"]


@needs_crds
@pytest.mark.parametrize(
    ("kind", "mutate"),
    [
        ("Rollout", lambda o: o["spec"]["strategy"]["canary"]["steps"].append({"setWeigth": 5})),
        ("AnalysisTemplate", lambda o: o["spec"]["metrics"][0].update(failureLimits=2)),
        ("ServiceMonitor", lambda o: o["spec"]["endpoints"][0].update(intervall="15s")),
        ("Cluster", lambda o: o["spec"].update(instances="one")),
        ("Application", lambda o: o["spec"]["source"].update(paths="x")),
    ],
)
def test_crd_validation_rejects_mistakes(kind: str, mutate: Any) -> None:
    """Negative control: a typo or a wrong type in each custom resource is caught."""
    obj = next(doc for _, doc in manifests() if doc["kind"] == kind)
    mutate(obj)
    assert _crd_errors(obj) != []


# --- Traefik Middleware: structural schemas (no upstream CRD here) --------------------------

_SOURCE_CRITERION = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "ipStrategy": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "depth": {"type": "integer", "minimum": 0},
                "excludedIPs": {"type": "array", "items": {"type": "string"}},
            },
        },
        "requestHeaderName": {"type": "string"},
        "requestHost": {"type": "boolean"},
    },
    "maxProperties": 1,
}
_DURATION = {"type": "string", "pattern": r"^[0-9]+(ms|s|m|h)$"}
MIDDLEWARE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "traefik.io/v1alpha1"},
        "kind": {"const": "Middleware"},
        "metadata": {"type": "object", "required": ["name", "namespace"]},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "maxProperties": 1,
            "properties": {
                "rateLimit": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["average"],
                    "properties": {
                        "average": {"type": "integer", "minimum": 1},
                        "period": _DURATION,
                        "burst": {"type": "integer", "minimum": 1},
                        "sourceCriterion": _SOURCE_CRITERION,
                    },
                },
                "inFlightReq": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["amount"],
                    "properties": {
                        "amount": {"type": "integer", "minimum": 1},
                        "sourceCriterion": _SOURCE_CRITERION,
                    },
                },
                "buffering": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        name: {"type": "integer", "minimum": 0}
                        for name in (
                            "maxRequestBodyBytes",
                            "memRequestBodyBytes",
                            "maxResponseBodyBytes",
                            "memResponseBodyBytes",
                        )
                    }
                    | {"retryExpression": {"type": "string"}},
                },
            },
        },
    },
}


def _middleware_errors(obj: Manifest) -> list[str]:
    validator = jsonschema.Draft7Validator(MIDDLEWARE_SCHEMA)
    errors = [
        f"{'.'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(obj)
    ]
    unknown = set(obj["metadata"]) - METADATA_FIELDS
    return errors + [f"metadata.{name}: not an ObjectMeta field used here" for name in unknown]


def test_traefik_middlewares_validate_structurally() -> None:
    middlewares = [doc for _, doc in manifests() if doc["kind"] == "Middleware"]
    assert {m["metadata"]["name"] for m in middlewares} == {
        "penvoice-ratelimit",
        "penvoice-inflight",
        "penvoice-body-limit",
    }
    for middleware in middlewares:
        assert _middleware_errors(middleware) == [], middleware["metadata"]["name"]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda o: o["spec"].update(rateLimitt={"average": 1}),
        lambda o: o["spec"].setdefault("rateLimit", {}).update(average="fifty"),
        lambda o: o["spec"].setdefault("rateLimit", {}).update(period="1 second"),
        lambda o: o.update(apiVersion="traefik.containo.us/v1alpha1"),
    ],
)
def test_middleware_validation_rejects_mistakes(mutate: Any) -> None:
    obj = copy.deepcopy(the("Middleware", "penvoice-ratelimit"))
    mutate(obj)
    assert _middleware_errors(obj) != []
