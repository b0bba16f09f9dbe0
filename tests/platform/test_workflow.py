"""`.github/workflows/build.yml`: schema-valid, least privilege, tests on PostgreSQL, then a
linux/arm64 image pushed with the tags the gitops repo pins (`sha-` + 7 hex characters)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.platform.conftest import WORKFLOW, dockerfile_stages, the, venv_tool, workflow

SHA_TAG = re.compile(r"sha-[0-9a-f]{7}")
# docker/metadata-action: `type=sha` with `format=short` takes the commit SHA's first
# DOCKER_METADATA_SHORT_SHA_LENGTH characters, 7 when that variable is unset.
METADATA_ACTION_SHORT_SHA_LENGTH = 7


def _check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [venv_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_workflow_validates_against_the_github_actions_schema() -> None:
    result = _check_jsonschema(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    """Negative control: a job without runs-on, with a misspelt key, fails the same check."""
    broken = workflow()
    broken["jobs"]["test"].pop("runs-on")
    broken["jobs"]["test"]["step"] = broken["jobs"]["test"].pop("steps")
    path = tmp_path / "build.yml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    assert _check_jsonschema(path).returncode != 0


def _triggers() -> dict[str, Any]:
    data = workflow()
    triggers = data["on"] if "on" in data else data[True]  # YAML 1.1 reads `on` as true
    assert isinstance(triggers, dict)
    return triggers


def _steps(job: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = workflow()["jobs"][job]["steps"]
    return steps


def _step(job: str, action: str) -> dict[str, Any]:
    matches = [s for s in _steps(job) if str(s.get("uses", "")).startswith(action + "@")]
    assert len(matches) == 1, f"{job}: expected one {action} step"
    return matches[0]


def test_triggers_main_tags_and_pull_requests() -> None:
    triggers = _triggers()
    assert triggers["push"] == {"branches": ["main"], "tags": ["v*"]}
    assert "pull_request" in triggers


def test_least_privilege_permissions() -> None:
    data = workflow()
    assert data["permissions"] == {"contents": "read"}
    jobs = data["jobs"]
    assert jobs["test"]["permissions"] == {"contents": "read"}
    assert jobs["image"]["permissions"] == {"contents": "read", "packages": "write"}
    assert "write-all" not in WORKFLOW.read_text()
    for job in jobs.values():
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_tests_run_against_a_postgresql_service() -> None:
    job = workflow()["jobs"]["test"]
    postgres = job["services"]["postgres"]
    assert str(postgres["image"]).startswith("postgres:")
    user = postgres["env"]["POSTGRES_USER"]
    password = postgres["env"]["POSTGRES_PASSWORD"]
    assert postgres["ports"] == ["5432:5432"]
    # The superuser URL the test suite's conftest honours.
    assert job["env"]["PENVOICE_TEST_DATABASE_URL"].startswith(
        f"postgresql://{user}:{password}@127.0.0.1:5432/"
    )
    runs = [step.get("run") for step in job["steps"]]
    assert "make lint" in runs
    assert "make test" in runs
    assert _step("test", "actions/setup-python")["with"]["python-version"] == "3.13"


def test_image_is_built_only_after_tests_and_only_on_push() -> None:
    job = workflow()["jobs"]["image"]
    assert job["needs"] == "test"
    assert job["if"] == "github.event_name == 'push'"


def test_tag_rules() -> None:
    meta = _step("image", "docker/metadata-action")["with"]
    assert meta["images"] == "${{ env.IMAGE }}"
    tags = [line.strip() for line in meta["tags"].splitlines() if line.strip()]
    assert tags[0] == "type=sha,prefix=sha-,format=short"
    assert "type=raw,value=latest,enable={{is_default_branch}}" in tags
    assert "type=semver,pattern={{version}}" in tags
    # latest comes only from the default branch, never implicitly from a v* tag.
    assert meta["flavor"].split() == ["latest=false"]
    # Nothing changes metadata-action's short SHA length (7) anywhere in the workflow.
    assert "DOCKER_METADATA_SHORT_SHA_LENGTH" not in WORKFLOW.read_text()


def _metadata_action_sha_tag(rule: str, commit: str) -> str:
    """What `type=sha,…` yields for a commit, per metadata-action's documented rule."""
    options = dict(part.split("=", 1) for part in rule.split(","))
    assert options.pop("type") == "sha"
    prefix = options.pop("prefix", "sha-")
    format_ = options.pop("format", "short")
    assert options == {}, f"unexpected options {options}"
    value = commit[:METADATA_ACTION_SHORT_SHA_LENGTH] if format_ == "short" else commit
    return prefix + value


def test_sha_tag_is_sha_dash_seven_hex_and_what_the_manifests_pin() -> None:
    meta = _step("image", "docker/metadata-action")["with"]
    rule = next(line.strip() for line in meta["tags"].splitlines() if "type=sha" in line)
    commit = "ed927c2a9b1f4c3d5e6f708192a3b4c5d6e7f809"
    tag = _metadata_action_sha_tag(rule, commit)
    assert tag == "sha-ed927c2"
    assert SHA_TAG.fullmatch(tag)
    for kind in ("Rollout", "Job", "Deployment"):
        image = the(kind)["spec"]["template"]["spec"]["containers"][0]["image"]
        assert SHA_TAG.fullmatch(image.rsplit(":", 1)[1]), image


def test_build_is_linux_arm64_without_emulation_with_cache_and_revision() -> None:
    build = _step("image", "docker/build-push-action")["with"]
    assert build["platforms"] == "linux/arm64"
    assert build["push"] is True
    assert build["tags"] == "${{ steps.meta.outputs.tags }}"
    assert build["labels"] == "${{ steps.meta.outputs.labels }}"
    assert build["cache-from"] == "type=gha"
    assert build["cache-to"] == "type=gha,mode=max"
    assert build["build-args"].splitlines() == ["PENVOICE_REVISION=${{ github.sha }}"]
    _, runtime = dockerfile_stages()
    assert any(i.keyword == "ARG" and i.value.startswith("PENVOICE_REVISION=") for i in runtime)
    # Cross-installed wheels: no QEMU step.
    uses = [str(step.get("uses", "")) for step in _steps("image")]
    assert not [u for u in uses if "qemu" in u]
    _step("image", "docker/setup-buildx-action")
    login = _step("image", "docker/login-action")["with"]
    assert login["registry"] == "ghcr.io"
    assert login["password"] == "${{ secrets.GITHUB_TOKEN }}"


def test_image_name_is_the_one_the_manifests_deploy() -> None:
    image = workflow()["env"]["IMAGE"]
    assert image == "ghcr.io/webb1es/penvoice-api"
    for kind in ("Rollout", "Job", "Deployment"):
        pinned = the(kind)["spec"]["template"]["spec"]["containers"][0]["image"]
        assert pinned.rsplit(":", 1)[0] == image
