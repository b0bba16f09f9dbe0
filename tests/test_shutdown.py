"""A real `penvoice serve` process under concurrent slow requests receives SIGTERM."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import asyncpg
import httpx
import pytest

from penvoice.dev.issuer import LocalIssuer
from penvoice.dev.postgres import free_port
from tests.conftest import app_environ

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

IN_FLIGHT = 6
DRAIN_SECONDS = 1.5


async def _wait_ready(base: str, process: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, "server exited during start"
            try:
                if (await client.get(f"{base}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("server never became ready")


async def test_sigterm_drains_finishes_in_flight_requests_and_exits_zero(
    database_url: str, issuer: LocalIssuer
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environ = {
        **os.environ,
        **app_environ(
            database_url,
            issuer,
            HOST="127.0.0.1",
            PORT=str(port),
            SHUTDOWN_DRAIN_SECONDS=str(DRAIN_SECONDS),
        ),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "penvoice.cli", "serve"],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        await _wait_ready(base, process)
        token = issuer.mint_token("shutdown-user")
        # Make /v1/me slow for real: its SELECT waits on a lock this test holds.
        blocker = await asyncpg.connect(database_url)
        lock = blocker.transaction()
        await lock.start()
        await blocker.execute("LOCK TABLE memberships IN ACCESS EXCLUSIVE MODE")

        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            slow = [
                asyncio.create_task(
                    client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
                )
                for _ in range(IN_FLIGHT)
            ]
            await asyncio.sleep(0.5)
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            await asyncio.sleep(0.2)
            async with httpx.AsyncClient(base_url=base, timeout=2) as probe:
                during_drain = await probe.get("/readyz")
            await asyncio.sleep(max(0.0, DRAIN_SECONDS + 0.5 - (time.monotonic() - signalled)))
            assert process.poll() is None, "server quit while requests were in flight"
            await lock.rollback()
            await blocker.close()
            responses = await asyncio.gather(*slow)

        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    exit_code = process.returncode

    assert during_drain.status_code == 503
    assert "shutdown" in during_drain.json()["failing"]
    assert [r.status_code for r in responses] == [200] * IN_FLIGHT
    assert exit_code == 0, output
    access_lines = [
        json.loads(line)
        for line in output.splitlines()
        if line.startswith("{") and '"logger": "penvoice.access"' in line
    ]
    me_lines = [line for line in access_lines if line["route"] == "/v1/me"]
    assert len(me_lines) == IN_FLIGHT
    assert all(line["status"] == 200 and line["request_id"] for line in me_lines)
    assert "Traceback" not in output
