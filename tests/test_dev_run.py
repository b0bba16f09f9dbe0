"""`penvoice dev` (what `make run` starts) serves /v1/me with the token it prints, and that
token still works after a restart: the issuer keeps its key and port in `.local/issuer`."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from penvoice.dev.postgres import free_port

pytestmark = pytest.mark.slow


def _start(port: int, tmp_path: Path) -> tuple[subprocess.Popen[str], list[str]]:
    """`penvoice dev` until it printed its banner; returns the process and its output."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "penvoice.cli",
            "dev",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "pg"),
            "--issuer-dir",
            str(tmp_path / "issuer"),
        ],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while not any(line.startswith("OpenAPI: ") for line in output):  # the last line
        line = process.stdout.readline()
        assert line, "".join(output)
        assert time.monotonic() < deadline, "".join(output)
        output.append(line)
    return process, output


def _me(port: int, token: str) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(
                f"http://127.0.0.1:{port}/v1/me", headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.TransportError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0, rest


def test_dev_run_prints_a_working_curl_whose_token_outlives_a_restart(tmp_path: Path) -> None:
    port = free_port()
    process, output = _start(port, tmp_path)
    try:
        token = next(
            match.group(1)
            for line in output
            if (match := re.match(r"export PENVOICE_TOKEN=(\S+)", line))
        )
        curl_line = next(line for line in output if line.startswith("curl "))
        assert f"http://127.0.0.1:{port}/v1/me" in curl_line
        assert any("penvoice dev token --sub" in line for line in output)
        response = _me(port, token)
        assert response.status_code == 200, response.text
        assert response.json()["subject"] == "dev-user"
        _stop(process)
        process, _ = _start(port, tmp_path)
        again = _me(port, token)
        assert again.status_code == 200, again.text
        _stop(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
