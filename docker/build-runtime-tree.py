"""Assemble the image's /app tree: the one script the Dockerfile runs and the tests run too.

    python docker/build-runtime-tree.py --out DIR [--platform linux/arm64] [--python-version 3.13]
                                        [--interpreter /usr/bin/python3.13] [--step all|deps|app]
                                        [--compile] [--uv PATH] [--source REPO]

DIR becomes:

    DIR/penvoice-api      launcher: `penvoice serve` (the image's ENTRYPOINT)
    DIR/penvoice-worker   launcher: `penvoice worker` (the worker Deployment's command)
    DIR/migrate           launcher: the golang-migrate compatible CLI
    DIR/migrations/       the SQL files
    DIR/site-packages/    the locked runtime dependencies and the penvoice wheel, nothing else

Dependencies come from `uv.lock` (`uv export --frozen --no-dev`, with hashes) and are installed
as wheels for the *target* platform (`--platform`, the Docker TARGETPLATFORM) and Python
version, by the build machine, without emulation and without building anything from source
(`--only-binary :all:`). Markers are evaluated for the target, not for the build machine.

The launchers are Python files with an `#!INTERPRETER -IS` line and no shell: `-I` ignores
PYTHON* variables and the user site, `-S` leaves out the interpreter's own site-packages, so
only DIR/site-packages (found next to the launcher) is importable.

`--step deps` and `--step app` split the work so the Dockerfile can cache the dependency
layer; `--step all` (the default) does both. `--compile` byte-compiles DIR with the running
interpreter, which must then be the target Python version (the image's root filesystem is
read-only at run time, so nothing is compiled there).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PLATFORMS = {
    "linux/arm64": "aarch64-manylinux_2_28",
    "linux/amd64": "x86_64-manylinux_2_28",
}
HOST_PLATFORM = {"aarch64": "linux/arm64", "arm64": "linux/arm64", "x86_64": "linux/amd64"}
LAUNCHERS = {
    "penvoice-api": (
        "the API: `penvoice serve`, configured only from the environment",
        "penvoice.cli",
        '["serve", *sys.argv[1:]]',
    ),
    "penvoice-worker": (
        "the job worker: `penvoice worker`, configured only from the environment",
        "penvoice.cli",
        '["worker", *sys.argv[1:]]',
    ),
    "migrate": (
        "golang-migrate compatible migrations: `/app/migrate -path DIR -database URL up`",
        "penvoice.migrate.cli",
        "sys.argv[1:]",
    ),
}
LAUNCHER = '''#!{interpreter} -IS
"""/app/{name}: {what}.

Written by docker/build-runtime-tree.py. No shell is needed: the kernel runs this file with
the interpreter above; -I ignores PYTHON* variables and the user site, -S leaves out the
interpreter's site-packages, so only the site-packages directory beside this file is importable.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "site-packages"))

from {module} import main  # noqa: E402

sys.exit(main({argv}))
'''


def host_platform() -> str:
    machine = os.uname().machine
    if machine not in HOST_PLATFORM:
        raise SystemExit(f"build-runtime-tree: no wheel platform for this machine ({machine})")
    return HOST_PLATFORM[machine]


def find_uv(source: Path) -> str:
    found = shutil.which("uv") or str(source / ".tools" / "bin" / "uv")
    if not Path(found).exists():
        raise SystemExit("build-runtime-tree: uv not found (PATH or .tools/bin/uv); run `make`")
    return found


def run(*command: str, cwd: Path | None = None) -> None:
    print("+", " ".join(command), file=sys.stderr, flush=True)
    subprocess.run(command, cwd=cwd, check=True)  # noqa: S603 - our own argv, no shell


def uv_pip_install(uv: str, args: argparse.Namespace, site: Path, *what: str) -> None:
    run(
        uv,
        "pip",
        "install",
        "--quiet",
        "--target",
        str(site),
        "--python-platform",
        PLATFORMS[args.platform],
        "--python-version",
        args.python_version,
        "--only-binary",
        ":all:",
        "--no-deps",
        *what,
    )


def install_dependencies(uv: str, args: argparse.Namespace, site: Path, work: Path) -> None:
    requirements = work / "requirements.txt"
    run(
        uv,
        "export",
        "--quiet",
        "--frozen",
        "--no-dev",
        "--no-emit-project",
        "--format",
        "requirements.txt",
        "--output-file",
        str(requirements),
        cwd=args.source,
    )
    uv_pip_install(uv, args, site, "--require-hashes", "--requirement", str(requirements))


def install_app(uv: str, args: argparse.Namespace, out: Path, site: Path, work: Path) -> None:
    dist = work / "dist"
    run(uv, "build", "--quiet", "--wheel", "--out-dir", str(dist), str(args.source))
    wheels = sorted(dist.glob("penvoice-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"build-runtime-tree: expected one penvoice wheel, got {wheels}")
    uv_pip_install(uv, args, site, str(wheels[0]))
    # Console scripts carry the build machine's interpreter path: useless in the image.
    shutil.rmtree(site / "bin", ignore_errors=True)

    migrations = out / "migrations"
    migrations.mkdir()
    for sql in sorted((args.source / "migrations").glob("*.sql")):
        shutil.copy2(sql, migrations / sql.name)

    interpreter = args.interpreter or f"/usr/bin/python{args.python_version}"
    for name, (what, module, argv) in LAUNCHERS.items():
        launcher = out / name
        launcher.write_text(
            LAUNCHER.format(
                interpreter=interpreter, name=name, what=what, module=module, argv=argv
            ),
            encoding="utf-8",
        )
        launcher.chmod(0o755)


def compile_tree(args: argparse.Namespace, out: Path) -> None:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if running != args.python_version:
        raise SystemExit(
            f"build-runtime-tree: --compile needs Python {args.python_version}, this is {running}"
        )
    run(
        sys.executable,
        "-m",
        "compileall",
        "-q",
        "-j0",
        "--invalidation-mode",
        "unchecked-hash",
        str(out / "site-packages"),
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the tree to create (/app)")
    parser.add_argument(
        "--platform",
        default="linux/arm64",
        help="Docker platform of the image: linux/arm64 (default), linux/amd64, or 'host'",
    )
    parser.add_argument("--python-version", default="3.13", help="the image's Python (3.13)")
    parser.add_argument(
        "--interpreter",
        help="the launchers' interpreter (default /usr/bin/pythonX.Y, as in distroless)",
    )
    parser.add_argument("--step", choices=["all", "deps", "app"], default="all")
    parser.add_argument("--compile", action="store_true", help="byte-compile site-packages")
    parser.add_argument("--uv", help="the uv binary (default: PATH, then .tools/bin/uv)")
    parser.add_argument(
        "--source",
        type=Path,
        default=Path(__file__).resolve().parent.parent,
        help="the project checkout (default: this script's repository)",
    )
    args = parser.parse_args(argv)
    if args.platform == "host":
        args.platform = host_platform()
    if args.platform not in PLATFORMS:
        parser.error(f"--platform must be one of {', '.join(PLATFORMS)} or host")
    args.source = args.source.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    uv = args.uv or find_uv(args.source)
    out: Path = args.out.resolve()
    site = out / "site-packages"
    if args.step in ("all", "deps") and out.exists() and any(out.iterdir()):
        raise SystemExit(f"build-runtime-tree: {out} is not empty")
    if args.step == "app" and not site.is_dir():
        raise SystemExit(f"build-runtime-tree: {site} missing: run --step deps first")
    site.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="runtime-tree-") as scratch:
        work = Path(scratch)
        if args.step in ("all", "deps"):
            install_dependencies(uv, args, site, work)
        if args.step in ("all", "app"):
            install_app(uv, args, out, site, work)
            if args.compile:
                compile_tree(args, out)
    print(f"build-runtime-tree: {args.step} done in {out} for {args.platform}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
