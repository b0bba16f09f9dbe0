"""`penvoice dev` (what `make run` starts) serves /v1/me with the token it prints, and that
token still works after a restart: the issuer keeps its key and port in `.local/issuer`. It
also runs the job worker in-process and delivers mail to a local mailbox."""

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from penvoice.dev.postgres import free_port

pytestmark = pytest.mark.slow


def _start(
    port: int, tmp_path: Path, worker_port: int = 0
) -> tuple[subprocess.Popen[str], list[str]]:
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
            "--worker-port",
            str(worker_port),
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


def send_an_invoice(api: str, token: str) -> str:
    auth = {"Authorization": f"Bearer {token}"}

    def post(path: str, body: object) -> dict[str, object]:
        headers = {**auth, "Idempotency-Key": str(uuid.uuid4())}
        response = httpx.post(f"{api}{path}", json=body, headers=headers, timeout=30)
        assert response.status_code in {200, 201, 202}, response.text
        data: dict[str, object] = response.json()
        return data

    org = post("/orgs", {"name": "Dev Studio", "default_currency": "EUR"})
    base = f"/orgs/{org['id']}"
    customer = post(f"{base}/customers", {"name": "Kunde", "email": "ap@kunde.example"})
    line = {"description": "Work", "quantity": "1", "unit_amount": 10000}
    draft = post(f"{base}/invoices", {"customer_id": customer["id"], "lines": [line]})
    invoice = post(f"{base}/invoices/{draft['id']}/finalize", {})
    post(f"{base}/invoices/{draft['id']}/send", {})
    return str(invoice["number"])


def test_dev_run_runs_the_job_worker_and_mails_to_a_local_mailbox(tmp_path: Path) -> None:
    port, worker_port = free_port(), free_port()
    process, output = _start(port, tmp_path, worker_port)
    try:
        token = next(
            match.group(1)
            for line in output
            if (match := re.match(r"export PENVOICE_TOKEN=(\S+)", line))
        )
        deadline = time.monotonic() + 60
        worker = None
        while time.monotonic() < deadline:
            try:
                worker = httpx.get(f"http://127.0.0.1:{worker_port}/readyz")
                if worker.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        assert worker is not None
        assert worker.status_code == 200, worker.text
        assert _me(port, token).status_code == 200  # the API is up
        number = send_an_invoice(f"http://127.0.0.1:{port}/v1", token)
        mail = tmp_path / "mail"
        while not list(mail.glob("*.eml")):
            assert time.monotonic() < deadline + 60, "no mail arrived"
            time.sleep(0.2)
        (eml,) = mail.glob("*.eml")
        assert f"Subject: Invoice {number}".encode() in eml.read_bytes()
        _stop(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
