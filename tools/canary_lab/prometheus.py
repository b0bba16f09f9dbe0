"""A real Prometheus (Debian's `prometheus` binary) scraping the lab's pods, and its query API.

Targets are static and labelled the way the ServiceMonitor's relabelling labels them in the
cluster (`namespace`, the pod-template-hash label, `pod`, `service`, `endpoint`,
`container`, `job`). Every pod slot the lab may use is a target from the start: a slot with
no process behind it is simply `up == 0` and yields no samples, so a pod is scraped from the
moment it listens — ready or not, as prometheus-operator scrapes unready endpoints too.
(File- or Kubernetes-based discovery would add Prometheus' fixed 5 s update batching, which
time compression cannot shrink.)
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import yaml

from tools.canary_lab.manifests import parse_duration
from tools.canary_lab.procs import SPAWNED, TIMEOUT

PROMETHEUS_BINARY = "/usr/bin/prometheus"
JOB = "penvoice-api"

_RANGE = re.compile(r"\[(?P<range>[0-9a-z.]+)(?::(?P<step>[0-9a-z.]*))?\]")
_OFFSET = re.compile(r"\boffset\s+(?P<offset>[0-9a-z.]+)")
_ARG = re.compile(r"\{\{\s*args\.(?P<name>[A-Za-z0-9_.-]+)\s*\}\}")


def prometheus_binary() -> str | None:
    if Path(PROMETHEUS_BINARY).exists():
        return PROMETHEUS_BINARY
    return shutil.which("prometheus")


def format_duration(seconds: float) -> str:
    """A Prometheus duration in whole milliseconds (`4000ms`), exact for any compression."""
    return f"{max(1, round(seconds * 1000))}ms"


def scale_query(query: str, factor: float) -> str:
    """Every range (`[1m]`, subquery `[5m:30s]`) and `offset` of a PromQL query divided by
    `factor`: with scrapes every interval/factor, a window holds the same samples as in the
    cluster."""
    if factor == 1:
        return query

    def scaled(text: str) -> str:
        return format_duration(parse_duration(text) / factor)

    def replace_range(match: re.Match[str]) -> str:
        step = match.group("step")
        inner = scaled(match.group("range"))
        if step is not None:
            inner += ":" + (scaled(step) if step else "")
        return f"[{inner}]"

    query = _RANGE.sub(replace_range, query)
    return _OFFSET.sub(lambda m: f"offset {scaled(m.group('offset'))}", query)


def resolve_args(query: str, args: Mapping[str, str]) -> str:
    """`{{args.name}}` placeholders, as Argo Rollouts resolves them when the run is created."""

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in args:
            raise KeyError(f"failed to resolve {{{{args.{name}}}}}")
        return args[name]

    return _ARG.sub(replace, query)


@dataclass(frozen=True)
class Target:
    address: str
    labels: dict[str, str]


class QueryError(Exception):
    """Prometheus answered with an error, or not at all."""


@dataclass(frozen=True)
class QueryResult:
    """What the Argo Rollouts Prometheus provider hands to the condition."""

    result_type: str
    value: float | list[float]

    def display(self) -> str:
        """The measurement value as Argo stores it: `[0.97]`, `[]`, `[NaN]`, or `0.5`."""
        if isinstance(self.value, list):
            return "[" + ",".join(_go_float(v) for v in self.value) + "]"
        return _go_float(self.value)

    def first(self) -> float | None:
        if isinstance(self.value, list):
            return self.value[0] if self.value else None
        return self.value


def _go_float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def _parse_sample(raw: str) -> float:
    return float(raw)  # Prometheus sends "NaN", "+Inf", "-Inf" as Python parses them


@dataclass
class Prometheus:
    workdir: Path
    port: int
    scrape_interval: float
    scrape_timeout: float
    lookback_delta: float
    metrics_path: str
    targets: list[Target]
    lifetime: float
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, object]:
        return {
            "global": {
                "scrape_interval": format_duration(self.scrape_interval),
                "scrape_timeout": format_duration(self.scrape_timeout),
                "evaluation_interval": format_duration(self.scrape_interval),
            },
            "scrape_configs": [
                {
                    "job_name": JOB,
                    "metrics_path": self.metrics_path,
                    "static_configs": [
                        {"targets": [target.address], "labels": target.labels}
                        for target in self.targets
                    ],
                }
            ],
        }

    def start(self) -> None:
        binary = prometheus_binary()
        if binary is None:
            raise RuntimeError("prometheus is not installed (apt-get install prometheus)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_file = self.workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(self.config(), sort_keys=False), encoding="utf-8")
        log = (self.workdir / "prometheus.log").open("wb")
        self._log = log
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [
                TIMEOUT,
                "-k",
                "5",
                str(round(self.lifetime)),
                binary,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--query.lookback-delta={format_duration(self.lookback_delta)}",
                "--storage.tsdb.retention.time=1d",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        SPAWNED.append(self.process)
        self._wait_ready(timeout=30)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1) as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"prometheus exited: see {self.workdir / 'prometheus.log'}")
                try:
                    if client.get(f"{self.url}/-/ready").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        raise RuntimeError("prometheus did not become ready")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()  # `timeout` passes SIGTERM on to prometheus
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log, self._log = self._log, None
        if log is not None:
            log.close()


class PrometheusClient:
    """The HTTP API as Argo's provider uses it: an instant query at "now". A vector and a
    matrix (flattened: each series' samples in order, series after series) become a list."""

    def __init__(self, url: str, http: httpx.AsyncClient, timeout: float = 30.0) -> None:
        self.url = url
        self.http = http
        self.timeout = timeout  # the provider's default query timeout, 30 s

    async def query(self, promql: str, at: float | None = None) -> QueryResult:
        params = {"query": promql, "time": f"{time.time() if at is None else at:.3f}"}
        try:
            response = await self.http.get(
                f"{self.url}/api/v1/query", params=params, timeout=self.timeout
            )
        except httpx.HTTPError as exc:
            raise QueryError(f"{type(exc).__name__}: {exc}") from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise QueryError(f"HTTP {response.status_code}: not JSON") from exc
        if body.get("status") != "success":
            raise QueryError(f"{body.get('errorType')}: {body.get('error')}")
        data = body["data"]
        kind = data["resultType"]
        if kind == "vector":
            return QueryResult(kind, [_parse_sample(item["value"][1]) for item in data["result"]])
        if kind == "scalar":
            return QueryResult(kind, _parse_sample(data["result"][1]))
        if kind == "matrix":  # since v1.8: every sample of every series, one flat list
            return QueryResult(
                kind,
                [_parse_sample(v[1]) for item in data["result"] for v in item["values"]],
            )
        raise QueryError("Prometheus metric type not supported")  # Argo's message (strings)

    async def targets(self) -> list[dict[str, object]]:
        response = await self.http.get(f"{self.url}/api/v1/targets", timeout=self.timeout)
        active: list[dict[str, object]] = response.json()["data"]["activeTargets"]
        return active


async def wait_for_samples(client: PrometheusClient, promql: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (await client.query(promql)).value:
                return
        except QueryError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError(f"no samples for {promql} after {timeout:g}s")
