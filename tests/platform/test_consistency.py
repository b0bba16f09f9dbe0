"""Manifests against code, so neither can drift: configuration, routes, ports, selectors,
names, the migrate command line, the shutdown budget, the Applications' split; plus the
seed's values and the hardening PLATFORM.md lists."""

from __future__ import annotations

import fnmatch
import re
from functools import cache
from typing import Any

import pytest

from penvoice.app import create_app
from penvoice.config import Settings, WorkerSettings
from penvoice.dev.roles import APP_ROLE, OWNER_ROLE
from penvoice.migrate.cli import TOP_FLAGS
from penvoice.migrate.flags import parse_flags
from penvoice.migrate.usage import SUBCOMMAND_USAGE
from tests.conftest import MIGRATIONS_DIR
from tests.platform.conftest import WORKLOADS, Manifest, manifests, the

NAMESPACE = "penvoice"
VARIABLE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
# Values the cluster supplies from Secrets, in the shape they have there.
SECRET_SAMPLES = {
    (
        "penvoice-pg-app",
        "uri",
    ): "postgresql://penvoice:s3cret@penvoice-pg-rw.penvoice:5432/penvoice",
    (
        "penvoice-pg-api",
        "uri",
    ): "postgresql://penvoice_app:s3cret@penvoice-pg-rw.penvoice:5432/penvoice",
    ("penvoice-api-kc", "client-secret"): "kc-client-secret",
    ("penvoice-smtp", "username"): "smtp-user",
    ("penvoice-smtp", "password"): "smtp-password",
}


def pod_spec(obj: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def pod_labels(obj: Manifest) -> dict[str, str]:
    labels: dict[str, str] = obj["spec"]["template"]["metadata"]["labels"]
    return labels


def api_container() -> dict[str, Any]:
    containers: list[dict[str, Any]] = pod_spec(the("Rollout"))["containers"]
    assert len(containers) == 1
    return containers[0]


def job_container() -> dict[str, Any]:
    containers: list[dict[str, Any]] = pod_spec(the("Job"))["containers"]
    assert len(containers) == 1
    return containers[0]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


@cache
def app_paths() -> frozenset[str]:
    settings = Settings.from_environ(
        {"DB_URL": "postgresql://x/y", "KC_ISSUER": "http://x/realms/y", "KC_AUDIENCE": "z"}
    )
    return frozenset(create_app(settings).openapi()["paths"])


def container_environment(container: dict[str, Any]) -> dict[str, str]:
    """The environment Kubernetes gives the container: envFrom ConfigMaps, then env."""
    environ: dict[str, str] = {}
    for source in container.get("envFrom", []):
        config_map = the("ConfigMap", source["configMapRef"]["name"])
        environ.update(config_map["data"])
    for variable in container.get("env", []):
        if "value" in variable:
            environ[variable["name"]] = variable["value"]
        else:
            ref = variable["valueFrom"]["secretKeyRef"]
            environ[variable["name"]] = SECRET_SAMPLES[(ref["name"], ref["key"])]
    return environ


# --- configuration ----------------------------------------------------------------------------


def test_every_variable_set_is_read_by_the_app_and_every_required_one_is_set() -> None:
    environ = container_environment(api_container())
    read = {name.upper() for name in Settings.model_fields} | {"PENVOICE_REVISION"}
    assert set(environ) - read == set(), "variables the app never reads"
    required = {name.upper() for name, f in Settings.model_fields.items() if f.is_required()}
    assert required == {"DB_URL", "KC_ISSUER", "KC_AUDIENCE"}
    assert required - set(environ) == set()
    # PENVOICE_REVISION is baked into the image by the build, never set per deployment.
    assert "PENVOICE_REVISION" not in environ


def test_the_manifest_configuration_is_valid_for_the_app() -> None:
    settings = Settings.from_environ(container_environment(api_container()))
    assert settings.kc_issuer == "https://test-auth.webbies.dev/realms/penvoice"
    assert settings.kc_audience == "penvoice-api"
    assert settings.cors_origins == ("https://test.penvoice.app",)
    assert settings.kc_api_client_secret is not None


def test_secrets_come_from_cnpg_and_the_keycloak_client_secret() -> None:
    cluster = the("Cluster")
    name = cluster["metadata"]["name"]
    by_name = {v["name"]: v["valueFrom"]["secretKeyRef"] for v in api_container()["env"]}
    # The API connects as the managed role that owns nothing, with that role's Secret.
    (role,) = cluster["spec"]["managed"]["roles"]
    assert by_name["DB_URL"] == {"name": role["passwordSecret"]["name"], "key": "uri"}
    assert by_name["KC_API_CLIENT_SECRET"]["name"] == "penvoice-api-kc"
    # Only the migrations keep the owner: CNPG's <cluster>-app Secret, URI under `uri`.
    job_env = {v["name"]: v["valueFrom"]["secretKeyRef"] for v in job_container()["env"]}
    assert job_env == {"DB_URL": {"name": f"{name}-app", "key": "uri"}}


def test_the_api_role_is_the_one_the_migrations_grant_to_and_has_no_power() -> None:
    cluster = the("Cluster")
    (role,) = cluster["spec"]["managed"]["roles"]
    assert role["name"] == APP_ROLE != cluster["spec"]["bootstrap"]["initdb"]["owner"] == OWNER_ROLE
    assert role["ensure"] == "present"
    assert role["login"] is True
    for power in ("superuser", "bypassrls", "createdb", "createrole", "replication", "inherit"):
        assert role[power] is False, power
    assert role.get("inRoles", []) == []
    grants = (MIGRATIONS_DIR / "000006_least_privilege_app_role.up.sql").read_text()
    assert f"TO {APP_ROLE};" in grants
    user = SECRET_SAMPLES[(role["passwordSecret"]["name"], "uri")].split("//")[1].split(":")[0]
    assert user == APP_ROLE


def test_job_env_is_exactly_what_its_command_line_expands() -> None:
    container = job_container()
    used = {m for word in container["command"] + container["args"] for m in VARIABLE.findall(word)}
    assert used == {v["name"] for v in container["env"]} == {"DB_URL"}


def test_shutdown_budget_fits_the_termination_grace_period() -> None:
    environ = container_environment(api_container())
    defaults = Settings.model_fields
    drain = float(environ.get("SHUTDOWN_DRAIN_SECONDS", defaults["shutdown_drain_seconds"].default))
    timeout = float(
        environ.get("SHUTDOWN_TIMEOUT_SECONDS", defaults["shutdown_timeout_seconds"].default)
    )
    grace = pod_spec(the("Rollout"))["terminationGracePeriodSeconds"]
    assert grace > drain + timeout
    # No preStop: the image has no shell (an exec hook cannot run) and the app drains itself.
    assert "lifecycle" not in api_container()


# --- HTTP surface -----------------------------------------------------------------------------


def test_probes_hit_routes_the_app_serves() -> None:
    container = api_container()
    port_names = {port["name"] for port in container["ports"]}
    probes = {kind: container[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe")}
    probes["readinessProbe"] = container["readinessProbe"]["httpGet"]
    for probe in probes.values():
        assert probe["path"] in app_paths()
        assert probe["port"] in port_names
    # Liveness never touches the database; readiness is the gate.
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["startupProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        probe = container[kind]
        readiness_bound = Settings.model_fields["readiness_check_timeout_seconds"].default
        assert probe["timeoutSeconds"] > readiness_bound
        assert probe["periodSeconds"] >= probe["timeoutSeconds"]


def test_container_port_is_the_apps_default_port() -> None:
    (port,) = api_container()["ports"]
    assert port["containerPort"] == Settings.model_fields["port"].default == 8080
    assert port["name"] == "http"
    assert "PORT" not in container_environment(api_container())


def test_service_serves_the_container_port_and_is_what_the_monitor_scrapes() -> None:
    service = the("Service", "penvoice-api")
    (port,) = service["spec"]["ports"]
    assert (port["name"], port["port"]) == ("http", 80)
    assert port["targetPort"] in {p["name"] for p in api_container()["ports"]}
    (endpoint,) = the("ServiceMonitor", "penvoice-api")["spec"]["endpoints"]
    assert endpoint["port"] == port["name"]
    assert endpoint["path"] in app_paths()
    assert endpoint["path"] == "/metrics"


def test_ingress_routes_to_the_service_and_only_to_public_routes() -> None:
    service = the("Service", "penvoice-api")
    (rule,) = the("Ingress")["spec"]["rules"]
    for path in rule["http"]["paths"]:
        backend = path["backend"]["service"]
        assert backend["name"] == service["metadata"]["name"]
        assert backend["port"]["name"] == service["spec"]["ports"][0]["name"]
        prefix = path["path"]
        assert any(p == prefix or p.startswith(prefix + "/") for p in app_paths()), prefix
        assert prefix not in {"/", "/metrics", "/readyz"}


# --- names and selectors ----------------------------------------------------------------------


def test_selectors_match_the_pods() -> None:
    rollout = the("Rollout")
    labels = pod_labels(rollout)
    assert selects(rollout["spec"]["selector"]["matchLabels"], labels)
    service = the("Service", "penvoice-api")
    assert selects(service["spec"]["selector"], labels)
    assert selects(the("PodDisruptionBudget")["spec"]["selector"]["matchLabels"], labels)
    monitor = the("ServiceMonitor", "penvoice-api")["spec"]
    assert selects(monitor["selector"]["matchLabels"], service["metadata"]["labels"])
    assert monitor["namespaceSelector"]["matchNames"] == [service["metadata"]["namespace"]]
    # The migrations Job's pods must never receive Service traffic or count for the PDB.
    assert not selects(service["spec"]["selector"], pod_labels(the("Job")))


def test_the_rollout_names_existing_analysis_templates_and_passes_their_args() -> None:
    rollout = the("Rollout")
    analysis = rollout["spec"]["strategy"]["canary"]["analysis"]
    passed = {arg["name"] for arg in analysis.get("args", [])}
    assert analysis["templates"]
    for ref in analysis["templates"]:
        template = the("AnalysisTemplate", ref["templateName"])
        assert template["metadata"]["namespace"] == rollout["metadata"]["namespace"]
        needed = {a["name"] for a in template["spec"].get("args", []) if "value" not in a}
        assert needed <= passed, ref["templateName"]


def test_the_rollout_reads_the_config_map_that_exists() -> None:
    sources = api_container().get("envFrom", [])
    assert sources, "the API container reads no ConfigMap"
    for source in sources:
        config_map = the("ConfigMap", source["configMapRef"]["name"])
        assert config_map.get("data"), source


def test_namespaces() -> None:
    for _, doc in manifests():
        if doc["kind"] == "Application":
            assert doc["metadata"]["namespace"] == "argocd"
            assert doc["spec"]["destination"]["namespace"] == NAMESPACE
        elif doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == NAMESPACE
        else:
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["kind"]


def test_backups_belong_to_the_cluster() -> None:
    cluster = the("Cluster")
    backup = the("ScheduledBackup")
    assert backup["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    assert backup["spec"]["method"] == "barmanObjectStore"
    store = cluster["spec"]["backup"]["barmanObjectStore"]
    credentials = store["s3Credentials"]
    assert {credentials[k]["name"] for k in credentials} == {"penvoice-pg-backup-creds"}
    assert cluster["spec"]["backup"]["retentionPolicy"] == "30d"
    assert len(backup["spec"]["schedule"].split()) == 6  # CNPG cron has seconds


# --- the migrations Job -----------------------------------------------------------------------


def test_job_command_is_accepted_by_our_migrate_cli() -> None:
    container = job_container()
    url = SECRET_SAMPLES[("penvoice-pg-app", "uri")]
    args = [
        VARIABLE.sub(lambda m: url if m.group(1) == "DB_URL" else "", a) for a in container["args"]
    ]
    assert container["command"] == ["/app/migrate"]
    flags, rest = parse_flags(args, TOP_FLAGS)
    assert flags == {"path": "/app/migrations", "database": url}
    assert rest == ["up"]
    assert rest[0] in SUBCOMMAND_USAGE


def test_job_is_a_presync_hook_running_the_rollouts_image() -> None:
    job = the("Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/hook"] == "PreSync"
    assert annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
    assert "generateName" not in job["metadata"]
    assert pod_spec(job)["restartPolicy"] == "Never"
    # One tag per deploy: the migrations are those of the build the Rollout is moving to.
    assert job_container()["image"] == api_container()["image"]


# --- the Applications -------------------------------------------------------------------------


def _glob_set(pattern: str) -> list[str]:
    return pattern[1:-1].split(",") if pattern.startswith("{") else [pattern]


def _synced_files(app: Manifest) -> set[str]:
    directory = app["spec"]["source"].get("directory", {})
    files = sorted(p.name for p in WORKLOADS.glob("*.yaml"))
    if "include" in directory:
        pats = _glob_set(directory["include"])
        files = [f for f in files if any(fnmatch.fnmatchcase(f, p) for p in pats)]
    if "exclude" in directory:
        pats = _glob_set(directory["exclude"])
        files = [f for f in files if not any(fnmatch.fnmatchcase(f, p) for p in pats)]
    return set(files)


def test_the_two_applications_split_the_folder_and_order_the_first_sync() -> None:
    app, db = the("Application", "penvoice"), the("Application", "penvoice-db")
    for application in (app, db):
        assert application["spec"]["source"]["path"] == "workloads/penvoice"
    app_files, db_files = _synced_files(app), _synced_files(db)
    everything = {p.name for p in WORKLOADS.glob("*.yaml")}
    assert app_files | db_files == everything
    assert app_files & db_files == set()
    kinds = {
        name: {doc["kind"] for file, doc in manifests() if file == name} for name in everything
    }
    assert {k for f in db_files for k in kinds[f]} == {"Namespace", "Cluster", "ScheduledBackup"}
    assert "Job" in {k for f in app_files for k in kinds[f]}
    # The database first (sync wave), never pruned or cascade-deleted with the app.
    wave = "argocd.argoproj.io/sync-wave"
    assert int(db["metadata"]["annotations"][wave]) < int(app["metadata"]["annotations"][wave])
    assert db["spec"]["syncPolicy"]["automated"]["prune"] is False
    assert "finalizers" not in db["metadata"]
    cluster = the("Cluster")["metadata"]["annotations"]["argocd.argoproj.io/sync-options"]
    assert set(cluster.split(",")) == {"Delete=false", "Prune=false"}
    assert "CreateNamespace=true" in app["spec"]["syncPolicy"]["syncOptions"]


# --- the seed's values ------------------------------------------------------------------------

SEED_QUERY = (
    'sum(rate(http_requests_total{namespace="penvoice",code!~"5.."}[1m])) / '
    'sum(rate(http_requests_total{namespace="penvoice"}[1m]))'
)


def test_analysis_template_is_the_seeds() -> None:
    template = the("AnalysisTemplate", "penvoice-success-rate")
    assert template["metadata"]["name"] == "penvoice-success-rate"
    (metric,) = template["spec"]["metrics"]
    assert metric["interval"] == "30s"
    assert metric["failureLimit"] == 2
    assert metric["successCondition"] == "result[0] >= 0.95"
    assert "count" not in metric  # background analysis: runs while the canary progresses
    prometheus = metric["provider"]["prometheus"]
    assert prometheus["address"] == "http://prometheus-operated.monitoring:9090"
    assert " ".join(prometheus["query"].split()) == SEED_QUERY


def test_rollout_is_the_seeds_canary() -> None:
    spec = the("Rollout")["spec"]
    assert spec["replicas"] == 2
    canary = spec["strategy"]["canary"]
    assert canary["steps"] == [
        {"setWeight": 25},
        {"pause": {"duration": "60s"}},
        {"setWeight": 50},
        {"pause": {"duration": "60s"}},
        {"setWeight": 75},
        {"pause": {"duration": "60s"}},
    ]
    assert canary["analysis"]["startingStep"] == 1
    assert "trafficRouting" not in canary  # one Service, replica-weighted


def test_service_monitor_is_the_seeds() -> None:
    monitor = the("ServiceMonitor", "penvoice-api")
    assert monitor["metadata"]["labels"]["release"] == "kube-prom-stack"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["interval"] == "15s"
    assert endpoint["relabelings"] == [
        {
            "sourceLabels": ["__meta_kubernetes_pod_label_rollouts_pod_template_hash"],
            "targetLabel": "rollouts_pod_template_hash",
        }
    ]


def test_cluster_ingress_and_config_are_the_seeds() -> None:
    cluster = the("Cluster")
    assert cluster["metadata"]["name"] == "penvoice-pg"
    assert cluster["spec"]["instances"] == 1
    assert cluster["spec"]["bootstrap"]["initdb"] == {"database": "penvoice", "owner": "penvoice"}
    assert cluster["spec"]["storage"] == {"size": "5Gi", "storageClass": "local-path"}
    ingress = the("Ingress")
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == (
        "letsencrypt-prod"
    )
    assert ingress["spec"]["ingressClassName"] == "traefik"
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == ["test-api.penvoice.app"]
    assert ingress["spec"]["tls"][0]["hosts"] == ["test-api.penvoice.app"]
    data = the("ConfigMap", "penvoice-api")["data"]
    assert data["KC_ISSUER"] == "https://test-auth.webbies.dev/realms/penvoice"
    assert data["KC_AUDIENCE"] == "penvoice-api"
    assert data["CORS_ORIGINS"] == "https://test.penvoice.app"


# --- hardening --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["Rollout", "Job", "Deployment"])
def test_pods_are_hardened(kind: str) -> None:
    spec = pod_spec(the(kind))
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    security = spec["securityContext"]
    assert security["runAsNonRoot"] is True
    # The image's USER is the name "nonroot"; the kubelet needs a number to check it.
    assert security["runAsUser"] == security["runAsGroup"] == 65532
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in spec["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"])
        assert {"cpu", "memory"} <= set(resources["limits"])
        assert not container["image"].endswith(":latest")
        assert "exec" not in str(container.get("lifecycle", ""))  # no shell in the image


def test_api_has_a_writable_tmp_and_a_disruption_budget() -> None:
    spec = pod_spec(the("Rollout"))
    mounts = {m["mountPath"]: m["name"] for m in api_container()["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    budget = the("PodDisruptionBudget")["spec"]
    assert budget["maxUnavailable"] == 1
    assert the("Rollout")["spec"]["replicas"] > budget["maxUnavailable"]


# --- trust: NetworkPolicy, proxy headers, ingress middlewares (issue 17) ---------------------


def _policy(name: str) -> Manifest:
    return the("NetworkPolicy", name)


def test_the_api_policy_selects_the_rollouts_pods_and_admits_only_traefik_and_prometheus() -> None:
    policy = _policy("penvoice-api")["spec"]
    assert selects(policy["podSelector"]["matchLabels"], pod_labels(the("Rollout")))
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    (rule,) = policy["ingress"]
    sources = {
        (
            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
        )
        for peer in rule["from"]
    }
    assert sources == {("kube-system", "traefik"), ("monitoring", "prometheus")}
    container_port = api_container()["ports"][0]["containerPort"]
    assert rule["ports"] == [{"protocol": "TCP", "port": container_port}]
    # The ServiceMonitor's Prometheus is the one admitted: same namespace as the gate's.
    query = the("AnalysisTemplate", "penvoice-success-rate")["spec"]["metrics"][0]["provider"]
    assert ".monitoring:" in query["prometheus"]["address"]


def test_the_api_may_reach_only_postgresql_dns_and_https() -> None:
    egress = _policy("penvoice-api")["spec"]["egress"]
    cluster = the("Cluster")["metadata"]["name"]
    targets = []
    for rule in egress:
        (peer,) = rule["to"]
        ports = sorted((p["protocol"], p["port"]) for p in rule["ports"])
        if "ipBlock" in peer:
            assert peer["ipBlock"]["cidr"] == "0.0.0.0/0"
            assert "10.0.0.0/8" in peer["ipBlock"]["except"]  # not the cluster's own pods
            targets.append(("outside the cluster", ports))
        elif "namespaceSelector" in peer:
            assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
            targets.append(("dns", ports))
        else:
            assert peer["podSelector"]["matchLabels"] == {"cnpg.io/cluster": cluster}
            targets.append(("postgresql", ports))
    assert sorted(targets) == [
        ("dns", [("TCP", 53), ("UDP", 53)]),
        ("outside the cluster", [("TCP", 443)]),  # Keycloak's public URL
        ("postgresql", [("TCP", 5432)]),
    ]
    assert Settings.from_environ(container_environment(api_container())).kc_issuer.startswith(
        "https://"
    )


def test_the_migrations_and_postgresql_policies_fit_their_pods() -> None:
    migrations = _policy("penvoice-migrations")["spec"]
    assert selects(migrations["podSelector"]["matchLabels"], pod_labels(the("Job")))
    assert "ingress" not in migrations  # nothing may connect to the Job
    database = _policy("penvoice-pg")["spec"]
    cluster = the("Cluster")["metadata"]["name"]
    assert database["podSelector"]["matchLabels"] == {"cnpg.io/cluster": cluster}
    admitted = [
        peer["podSelector"]["matchLabels"]
        for peer in database["ingress"][0]["from"]
        if "podSelector" in peer
    ]
    assert pod_labels(the("Rollout")) in admitted
    assert pod_labels(the("Job")) in admitted


def test_proxy_headers_are_trusted_only_from_the_pod_network() -> None:
    settings = Settings.from_environ(container_environment(api_container()))
    assert settings.forwarded_allow_ips == ("10.42.0.0/16",)


def test_the_ingress_applies_every_middleware_of_the_namespace() -> None:
    annotation = the("Ingress")["metadata"]["annotations"][
        "traefik.ingress.kubernetes.io/router.middlewares"
    ]
    applied = [ref.strip() for ref in annotation.split(",")]
    defined = [
        f"{doc['metadata']['namespace']}-{doc['metadata']['name']}@kubernetescrd"
        for _, doc in manifests()
        if doc["kind"] == "Middleware"
    ]
    assert sorted(applied) == sorted(defined)
    assert all(ref.startswith(f"{NAMESPACE}-") for ref in applied)


def test_the_ingress_body_limit_is_the_apps() -> None:
    buffering = the("Middleware", "penvoice-body-limit")["spec"]["buffering"]
    settings = Settings.from_environ(container_environment(api_container()))
    assert buffering["maxRequestBodyBytes"] == settings.max_body_bytes


# --- the job worker ---------------------------------------------------------------------------


def worker_container() -> dict[str, Any]:
    containers: list[dict[str, Any]] = pod_spec(the("Deployment", "penvoice-worker"))["containers"]
    assert len(containers) == 1
    return containers[0]


def test_the_worker_runs_the_rollouts_image_with_its_own_command() -> None:
    container = worker_container()
    assert container["image"] == api_container()["image"]
    assert container["command"] == ["/app/penvoice-worker"]
    assert "args" not in container


def test_the_worker_configuration_is_valid_and_read() -> None:
    environ = container_environment(worker_container())
    settings = WorkerSettings.from_environ(environ)
    assert settings.worker_port == 8081
    by_name = {v["name"]: v["valueFrom"]["secretKeyRef"] for v in worker_container()["env"]}
    assert by_name["DB_URL"] == {"name": "penvoice-pg-api", "key": "uri"}  # owns nothing
    assert by_name["SMTP_USERNAME"] == {"name": "penvoice-smtp", "key": "username"}
    assert by_name["SMTP_PASSWORD"] == {"name": "penvoice-smtp", "key": "password"}
    assert settings.smtp_host
    assert settings.smtp_from
    assert settings.smtp_security == "starttls"  # credentials never cross in plain text
    assert settings.smtp_password is not None
    assert "SMTP_PASSWORD" not in the("ConfigMap", "penvoice-worker")["data"]
    # The shared ConfigMap may carry the API's variables; every variable set is read by
    # the API or the worker.
    read = {n.upper() for n in (*Settings.model_fields, *WorkerSettings.model_fields)}
    assert set(environ) - read == set()


def test_the_worker_probes_and_metrics_are_what_it_serves() -> None:
    container = worker_container()
    (port,) = container["ports"]
    assert (port["name"], port["containerPort"]) == ("metrics", 8081)
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    service = the("Service", "penvoice-worker")
    labels = pod_labels(the("Deployment", "penvoice-worker"))
    assert selects(service["spec"]["selector"], labels)
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    monitor = the("ServiceMonitor", "penvoice-worker")["spec"]
    assert selects(monitor["selector"]["matchLabels"], service["metadata"]["labels"])
    assert monitor["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "15s", "scrapeTimeout": "10s"}
    ]
    # Worker pods never receive API traffic, count for the API's budget or its monitor.
    api_service = the("Service", "penvoice-api")
    assert not selects(api_service["spec"]["selector"], labels)
    assert not selects(the("PodDisruptionBudget")["spec"]["selector"]["matchLabels"], labels)
    api_monitor = the("ServiceMonitor", "penvoice-api")["spec"]
    assert not selects(api_monitor["selector"]["matchLabels"], service["metadata"]["labels"])


def test_the_worker_shutdown_budget_fits_its_grace_period() -> None:
    environ = container_environment(worker_container())
    timeout = float(
        environ.get(
            "SHUTDOWN_TIMEOUT_SECONDS",
            WorkerSettings.model_fields["shutdown_timeout_seconds"].default,
        )
    )
    grace = pod_spec(the("Deployment", "penvoice-worker"))["terminationGracePeriodSeconds"]
    assert grace > timeout + 5  # + the pool's close


def test_the_worker_has_a_writable_tmp() -> None:
    spec = pod_spec(the("Deployment", "penvoice-worker"))
    mounts = {m["mountPath"]: m["name"] for m in worker_container()["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
