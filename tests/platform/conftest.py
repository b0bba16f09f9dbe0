"""Shared pieces of the platform tests: the repository's shipping files, parsed once.

Everything here is offline except PyPI (wheels) and loopback (the test database, the local
issuer). The CRD schemas live beside the clone in `../shared/k8s-crds/`.
"""

from __future__ import annotations

import copy
import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy" / "gitops"
WORKLOADS = DEPLOY / "workloads" / "penvoice"
APPS = DEPLOY / "apps" / "penvoice.yaml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "build.yml"
TREE_SCRIPT = REPO_ROOT / "docker" / "build-runtime-tree.py"
CRD_DIR = REPO_ROOT.parent / "shared" / "k8s-crds"
IMAGE_PYTHON = "3.13"
HOST_PLATFORM = {"x86_64": "linux/amd64", "aarch64": "linux/arm64", "arm64": "linux/arm64"}

Manifest = dict[str, Any]

# libyaml's loader: the CRD files are megabytes of YAML.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml_documents(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as stream:
        return [doc for doc in yaml.load_all(stream, Loader=_Loader) if doc is not None]


@cache
def _manifests() -> tuple[tuple[str, Manifest], ...]:
    found = []
    for path in [APPS, *sorted(WORKLOADS.glob("*.yaml"))]:
        for doc in load_yaml_documents(path):
            found.append((path.name, doc))
    return tuple(found)


def manifests() -> list[tuple[str, Manifest]]:
    """(file name, object) for every object under deploy/gitops, a fresh copy per caller."""
    return copy.deepcopy(list(_manifests()))


def the(kind: str, name: str | None = None) -> Manifest:
    """The one object of `kind` (and `name`) in the gitops slice."""
    matches = [
        doc
        for _, doc in manifests()
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def workflow() -> dict[Any, Any]:
    docs = load_yaml_documents(WORKFLOW)
    assert len(docs) == 1
    data: dict[Any, Any] = docs[0]
    return data


# --- Dockerfile ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str

    def words(self) -> list[str]:
        return shlex.split(self.value)


def dockerfile_stages() -> list[list[Instruction]]:
    """The Dockerfile's instructions, split into stages (line continuations joined)."""
    lines: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    assert not pending, "Dockerfile ends inside a continued line"
    stages: list[list[Instruction]] = []
    for line in lines:
        keyword, _, value = line.partition(" ")
        instruction = Instruction(keyword.upper(), value.strip())
        if instruction.keyword == "FROM":
            stages.append([])
        assert stages, f"instruction before FROM: {line}"
        stages[-1].append(instruction)
    return stages


def dockerignore_allows(relative: str) -> bool:
    """Docker's .dockerignore rule for one path: the last matching pattern decides."""
    allowed = True
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        candidates = [pattern]
        if pattern.startswith("**/"):
            candidates.append(pattern[3:])
        for prefix in prefixes:
            tails = ["/".join(prefix.split("/")[i:]) for i in range(len(prefix.split("/")))]
            if any(
                fnmatch.fnmatchcase(prefix, c)
                or (c != pattern and any(fnmatch.fnmatchcase(t, c) for t in tails))
                for c in candidates
            ):
                allowed = negate
                break
    return allowed


# --- interpreters and tools -----------------------------------------------------------------


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str


def _ask(candidate: str) -> Interpreter | None:
    try:
        out = subprocess.run(
            [candidate, "-I", "-c", "import sys; print(sys.executable); print(sys.version[:4])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    version = ".".join(out[1].split(".")[:2])
    return Interpreter(os.path.realpath(out[0]), version)


@cache
def runtime_interpreter() -> Interpreter:
    """Python 3.13 (the image's) where this machine has it, else the running interpreter."""
    for candidate in (
        "/root/.pyenv/versions/3.13.0/bin/python3.13",
        shutil.which("python3.13"),
        sys.executable,
    ):
        if candidate and Path(candidate).exists():
            found = _ask(candidate)
            if found and found.version == IMAGE_PYTHON:
                return found
    return Interpreter(
        os.path.realpath(sys.executable), f"{sys.version_info.major}.{sys.version_info.minor}"
    )


@cache
def uv_binary() -> str:
    found = shutil.which("uv") or str(REPO_ROOT / ".tools" / "bin" / "uv")
    assert Path(found).exists(), "uv is needed (make bootstraps .tools/bin/uv)"
    return found


def venv_tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    assert path.exists(), f"{name} is a dev dependency; run `make` to sync .venv"
    return str(path)


def host_platform() -> str:
    """This machine as a Docker platform: the image's tree can only run on Linux."""
    if sys.platform != "linux":
        pytest.skip(f"NOT LINUX ({sys.platform}): the image's runtime tree cannot run here")
    machine = os.uname().machine
    if machine not in HOST_PLATFORM:
        pytest.skip(f"NO WHEEL PLATFORM FOR THIS MACHINE ({machine}): runtime tree not built")
    return HOST_PLATFORM[machine]


def run_tree_script(*args: str, cwd: Path | None = None) -> None:
    """docker/build-runtime-tree.py as the Dockerfile runs it, with the given arguments."""
    subprocess.run(
        [runtime_interpreter().path, "-I", str(TREE_SCRIPT), "--uv", uv_binary(), *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )


def dist_names(site: Path) -> set[str]:
    """Normalised names of the distributions installed in a site-packages directory."""
    names = set()
    for info in site.glob("*.dist-info"):
        name = info.name[: -len(".dist-info")].rsplit("-", 1)[0]
        names.add(re.sub(r"[-_.]+", "-", name).lower())
    return names
