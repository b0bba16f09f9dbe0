"""`penvoice dev` (what `make run` starts) serves /v1/me with the token it prints."""

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from penvoice.dev.postgres import free_port


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


def test_dev_run_prints_a_working_curl_and_stops_cleanly(tmp_path: Path) -> None:
    port, worker_port = free_port(), free_port()
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
            "--worker-port",
            str(worker_port),
        ],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while not any(line.startswith("curl ") for line in output):
            line = process.stdout.readline()
            assert line, "".join(output)
            assert time.monotonic() < deadline, "".join(output)
            output.append(line)
        token = next(
            match.group(1)
            for line in output
            if (match := re.match(r"export PENVOICE_TOKEN=(\S+)", line))
        )
        curl_line = next(line for line in output if line.startswith("curl "))
        assert f"http://127.0.0.1:{port}/v1/me" in curl_line
        response = None
        while time.monotonic() < deadline:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/v1/me", headers={"Authorization": f"Bearer {token}"}
                )
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert response is not None
        assert response.status_code == 200, response.text
        assert response.json()["subject"] == "dev-user"
        # the job worker runs in the same process, ready on its own port
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
        # and an invoice sent by email lands in the local mailbox beside the data directory
        number = send_an_invoice(f"http://127.0.0.1:{port}/v1", token)
        mail = tmp_path / "mail"
        while not list(mail.glob("*.eml")):
            assert time.monotonic() < deadline + 60, "no mail arrived"
            time.sleep(0.2)
        (eml,) = mail.glob("*.eml")
        assert f"Subject: Invoice {number}".encode() in eml.read_bytes()
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
        assert process.returncode == 0, rest
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
