"""The Dockerfile: hadolint-clean, two stages, no emulation, the image layout PLATFORM.md asks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from penvoice.config import Settings
from tests.conftest import REPO_ROOT
from tests.platform.conftest import (
    DOCKERFILE,
    IMAGE_PYTHON,
    TREE_SCRIPT,
    dockerfile_stages,
    dockerignore_allows,
    venv_tool,
)


def _hadolint(dockerfile: Path, home: Path) -> subprocess.CompletedProcess[str]:
    # A private HOME and cwd so no user or project hadolint config can relax the rules;
    # failure threshold "style" makes every finding, down to style, fail.
    return subprocess.run(
        [venv_tool("hadolint"), "--no-color", "--failure-threshold", "style", str(dockerfile)],
        cwd=home,
        env={"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_hadolint_passes_on_the_dockerfile(tmp_path: Path) -> None:
    result = _hadolint(DOCKERFILE, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_hadolint_really_lints(tmp_path: Path) -> None:
    """Negative control: the same hadolint call rejects an unpinned, shell-form Dockerfile."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install uv\nENTRYPOINT penvoice serve\n")
    result = _hadolint(bad, tmp_path)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3013", "DL3025"):
        assert rule in result.stdout


def test_two_stages_and_the_build_stage_never_runs_target_code() -> None:
    build, runtime = dockerfile_stages()
    assert build[0].words() == [
        "--platform=$BUILDPLATFORM",
        f"python:{IMAGE_PYTHON}-slim-trixie",
        "AS",
        "build",
    ]
    # Declared without a default: a default would override buildx's --platform.
    assert "ARG TARGETPLATFORM" in [f"{i.keyword} {i.value}" for i in build]
    # The runtime stage only copies: a RUN there would need emulation for linux/arm64.
    assert runtime[0].value == "gcr.io/distroless/python3-debian13:nonroot"
    assert [i.keyword for i in runtime if i.keyword == "RUN"] == []


def test_build_stage_assembles_the_tree_with_the_shared_script() -> None:
    build, _ = dockerfile_stages()
    runs = [i.value for i in build if i.keyword == "RUN" and TREE_SCRIPT.name in i.value]
    assert len(runs) == 2, runs
    steps = [i.words()[i.words().index("--step") + 1] for i in build if i.value in runs]
    assert steps == ["deps", "app"]
    for run in runs:
        words = run.split()
        assert words[words.index("--platform") + 1] == '"${TARGETPLATFORM:-linux/arm64}"'
        assert words[words.index("--python-version") + 1] == IMAGE_PYTHON
        assert words[words.index("--out") + 1] == "/out/app"
    assert "--compile" in runs[1]


def test_runtime_stage_layout() -> None:
    _, runtime = dockerfile_stages()
    by_keyword: dict[str, list[str]] = {}
    for instruction in runtime[1:]:
        by_keyword.setdefault(instruction.keyword, []).append(instruction.value)
    assert by_keyword["WORKDIR"] == ["/app"]
    assert by_keyword["COPY"] == ["--from=build /out/app /app"]
    assert by_keyword["EXPOSE"] == [str(Settings.model_fields["port"].default)]
    assert by_keyword["USER"] == ["nonroot:nonroot"]
    assert by_keyword["ARG"] == ["PENVOICE_REVISION=unknown"]
    assert by_keyword["ENV"] == ["PENVOICE_REVISION=${PENVOICE_REVISION}"]
    # Exec form: the kernel runs the launcher; there is no shell to run a string.
    assert json.loads(by_keyword["ENTRYPOINT"][0]) == ["/app/penvoice-api"]


def test_build_context_holds_what_the_build_stage_copies_and_no_more() -> None:
    build, _ = dockerfile_stages()
    sources = [
        word
        for instruction in build
        if instruction.keyword == "COPY"
        for word in instruction.words()[:-1]
        if not word.startswith("--")
    ]
    assert sources, "the build stage copies nothing"
    for source in sources:
        path = REPO_ROOT / source
        assert path.exists(), source
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        shipped = [
            f
            for f in files
            if "__pycache__" not in f.parts and dockerignore_allows(str(f.relative_to(REPO_ROOT)))
        ]
        assert shipped, f".dockerignore leaves nothing of {source} in the build context"
        assert len(shipped) == len([f for f in files if "__pycache__" not in f.parts]), source
    for private in (".git/HEAD", ".venv/pyvenv.cfg", "tests/conftest.py", ".local/pg", ".env"):
        assert not dockerignore_allows(private), private


@pytest.mark.parametrize("path", ["src/penvoice/__pycache__/app.cpython-313.pyc"])
def test_dockerignore_drops_bytecode(path: str) -> None:
    assert not dockerignore_allows(path)
