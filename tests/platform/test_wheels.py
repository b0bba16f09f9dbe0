"""The locked runtime dependencies install as binary wheels for the image's CPython 3.13 on
manylinux x86_64 and aarch64, through the very step the Dockerfile runs (`--step deps`).

`--only-binary :all:` forbids source builds; on top, every installed distribution's WHEEL
file must carry a tag the target interpreter accepts, and the installed set must be exactly
the lock's runtime set with markers evaluated for the target (not for this machine).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from packaging.markers import Marker

from tests.conftest import REPO_ROOT
from tests.platform.conftest import (
    IMAGE_PYTHON,
    dist_names,
    run_tree_script,
    uv_binary,
)

ARCH = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}
ELF_MACHINE = {"x86_64": 62, "aarch64": 183}  # e_machine: EM_X86_64, EM_AARCH64
MANYLINUX_MAX = (2, 28)
LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def _platform_ok(tag: str, arch: str) -> bool:
    if tag == "any":
        return True
    legacy = re.fullmatch(rf"(manylinux1|manylinux2010|manylinux2014)_{arch}", tag)
    if legacy is not None:
        return LEGACY_MANYLINUX[legacy.group(1)] <= MANYLINUX_MAX
    modern = re.fullmatch(rf"manylinux_(\d+)_(\d+)_{arch}", tag)
    if modern is None:
        return False
    return (int(modern.group(1)), int(modern.group(2))) <= MANYLINUX_MAX


def wheel_tag_ok(tag: str, arch: str, python: str = IMAGE_PYTHON) -> bool:
    """Would CPython `python` on manylinux_2_28 `arch` install a wheel with this tag?"""
    interpreter, abi, platform = tag.split("-")
    cp = "cp" + python.replace(".", "")
    minor = int(python.split(".")[1])
    if interpreter in {"py3", "py2.py3"} and abi == "none":
        return _platform_ok(platform, arch)
    if interpreter == cp and abi in {cp, "abi3", "none"}:
        return _platform_ok(platform, arch)
    stable = re.fullmatch(r"cp3(\d+)", interpreter)
    if stable and abi == "abi3" and int(stable.group(1)) <= minor:
        return _platform_ok(platform, arch)
    return False


@pytest.mark.parametrize(
    ("tag", "ok"),
    [
        ("py3-none-any", True),
        ("cp313-cp313-manylinux_2_17_aarch64", True),
        ("cp311-abi3-manylinux_2_28_aarch64", True),
        ("cp313-cp313-manylinux_2_34_aarch64", False),
        ("cp312-cp312-manylinux_2_17_aarch64", False),
        ("cp313-cp313-manylinux_2_17_x86_64", False),
        ("cp313-cp313-musllinux_1_2_aarch64", False),
        ("cp314-abi3-manylinux_2_17_aarch64", False),
    ],
)
def test_wheel_tag_rule(tag: str, ok: bool) -> None:
    """The rule below rejects what the image could not load (a control for the real check)."""
    assert wheel_tag_ok(tag, "aarch64") is ok


def expected_runtime_dists(arch: str, python: str = IMAGE_PYTHON) -> set[str]:
    """The lock's runtime distributions whose markers hold on the target platform."""
    exported = subprocess.run(
        [uv_binary(), "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    environment = {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": arch,
        "platform_python_implementation": "CPython",
        "implementation_name": "cpython",
    }
    names = set()
    for line in exported.splitlines():
        if not line or line.startswith(("#", " ")):
            continue
        requirement, _, marker = line.partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate(environment):
            continue
        name = requirement.split("==")[0].strip()
        names.add(re.sub(r"[-_.]+", "-", name).lower())
    return names


@pytest.mark.slow
@pytest.mark.parametrize("platform", ["linux/amd64", "linux/arm64"])
def test_locked_dependencies_are_cp313_manylinux_wheels(platform: str, tmp_path: Path) -> None:
    arch = ARCH[platform]
    out = tmp_path / "app"
    run_tree_script(
        "--step",
        "deps",
        "--platform",
        platform,
        "--python-version",
        IMAGE_PYTHON,
        "--out",
        str(out),
    )
    site = out / "site-packages"
    wheels = sorted(site.glob("*.dist-info/WHEEL"))
    assert wheels, "nothing installed"
    rejected = {}
    for wheel in wheels:
        tags = [
            line.split(":", 1)[1].strip()
            for line in wheel.read_text().splitlines()
            if line.startswith("Tag:")
        ]
        if not any(wheel_tag_ok(tag, arch) for tag in tags):
            rejected[wheel.parent.name] = tags
    assert rejected == {}, f"not installable on CPython {IMAGE_PYTHON} {arch}: {rejected}"
    assert not list(site.glob("*.egg-info")), "a distribution was built from source"
    assert dist_names(site) == expected_runtime_dists(arch)
    # Every compiled extension is an ELF object for the target machine, not for this one.
    extensions = sorted(site.rglob("*.so")) + sorted(site.rglob("*.so.*"))
    assert extensions
    machines = {path.relative_to(site).as_posix(): elf_machine(path) for path in extensions}
    assert set(machines.values()) == {ELF_MACHINE[arch]}, machines


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", path
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")
