"""Open-loop HTTP/1.1 load at a fixed rate (what wrk2 does; wrk2 is not in Debian).

Request i is *due* at start + i / rate, whether or not earlier ones have answered; it goes
out on an idle keep-alive connection (a new one is opened while fewer than `--max-conns`
exist, otherwise it waits for one). Latency is measured from the due time, not from the
moment it was sent, so a stalled server shows up in the percentiles instead of quietly
lowering the rate (no coordinated omission). Raw asyncio streams keep the generator's
own CPU cost small: it shares the machine with the server and PostgreSQL.

    python -m bench.loadgen --port 8080 --rate 200 --duration 15 --requests reqs.json

`reqs.json` is a list of [method, path, body-or-null]; they are sent in order, cycling.
Prints one JSON object: counts, status codes, achieved rate, latency percentiles (ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, raw: bytes) -> tuple[int, int]:
        """Send one request, read the whole response; (status, body bytes)."""
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        size = 0
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                chunk_head = await self.reader.readuntil(b"\r\n")
                length = int(chunk_head.split(b";")[0], 16)
                await self.reader.readexactly(length + 2)
                size += length
                if length == 0:
                    break
        else:
            length = int(headers.get("content-length", "0"))
            if length:
                await self.reader.readexactly(length)
            size = length
        if headers.get("connection", "").lower() == "close":
            raise ConnectionResetError("server closed the connection")
        return status, size


def build_requests(specs: list[list[Any]], host: str, headers: dict[str, str]) -> list[bytes]:
    common = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    built = []
    for method, path, body in specs:
        data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        extra = f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n" if data else ""
        if method in {"POST", "PUT", "PATCH"} and not data:
            extra = "Content-Length: 0\r\n"
        head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n{common}{extra}\r\n"
        built.append(head.encode() + data)
    return built


async def run(
    port: int, rate: float, duration: float, requests: list[bytes], max_conns: int
) -> dict[str, Any]:
    idle: list[Connection] = []
    waiters: list[asyncio.Future[Connection]] = []
    opened = 0
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors: dict[str, int] = {}
    total = int(rate * duration)

    async def connection() -> Connection:
        nonlocal opened
        if idle:
            return idle.pop()
        if opened < max_conns:
            opened += 1
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            return Connection(reader, writer)
        future: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()
        waiters.append(future)
        return await future

    def release(conn: Connection) -> None:
        while waiters:
            future = waiters.pop(0)
            if not future.done():
                future.set_result(conn)
                return
        idle.append(conn)

    async def one(raw: bytes, due: float) -> None:
        nonlocal opened
        conn = await connection()
        try:
            status, _ = await asyncio.wait_for(conn.request(raw), timeout=30)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            conn.writer.close()
            opened -= 1
            if waiters:  # let a waiting request open a fresh connection
                with_conn = asyncio.ensure_future(connection())
                with_conn.add_done_callback(lambda f: release(f.result()))
            return
        latencies.append((time.perf_counter() - due) * 1000)
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        release(conn)

    # A few connections up front, as a client pool would have them.
    for _ in range(min(8, max_conns)):
        opened += 1
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        idle.append(Connection(reader, writer))

    tasks = []
    start = time.perf_counter() + 0.05
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(requests[i % len(requests)], due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    for conn in idle:
        conn.writer.close()
    latencies.sort()

    def pct(p: float) -> float | None:
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))], 2)

    return {
        "target_rate": rate,
        "sent": total,
        "completed": len(latencies),
        "achieved_rate": round(len(latencies) / elapsed, 1),
        "seconds": round(elapsed, 2),
        "statuses": statuses,
        "errors": errors,
        "connections_opened": opened,
        "latency_ms": {
            "p50": pct(50),
            "p90": pct(90),
            "p99": pct(99),
            "p99_9": pct(99.9),
            "max": round(latencies[-1], 2) if latencies else None,
            "mean": round(sum(latencies) / len(latencies), 2) if latencies else None,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--requests", required=True)
    parser.add_argument("--max-conns", type=int, default=64)
    args = parser.parse_args()
    with open(args.requests) as file:
        specs = json.load(file)
    headers = {"Authorization": f"Bearer {os.environ['BENCH_TOKEN']}"}
    raw = build_requests(specs, f"127.0.0.1:{args.port}", headers)
    try:
        import uvloop  # noqa: PLC0415 - optional, lowers the generator's own overhead

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(run(args.port, args.rate, args.duration, raw, args.max_conns))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
