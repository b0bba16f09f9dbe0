"""A results JSON → the Markdown tables of RESULTS.md (`python -m bench.report FILE`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _ok(value: float | None, budget: float | None) -> str:
    if budget is None or value is None:
        return ""
    return "✅" if value <= budget else "❌"


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown(results: dict[str, Any]) -> str:
    out: list[str] = []
    m = results.get("machine", {})
    if m:
        out.append(
            f"Machine: {m['nproc']} vCPU {m['cpu_model']}, {m['ram_gib']} GiB RAM, Linux "
            f"{m['kernel']}, Python {m['python']}, PostgreSQL {m['postgresql']}, "
            f"{m['wrk'].split(' Copyright')[0]}; "
            f"revision {m['git_revision']}"
            + (
                f" plus uncommitted {', '.join(m['git_dirty_paths'])}"
                if m["git_dirty_paths"]
                else ""
            )
            + "."
        )
        out.append("")
    ds = results.get("dataset", {})
    if ds:
        rows = ds["rows"]
        out.append(
            f"Dataset: {rows['organisations']} organisations, {rows['invoices']:,} invoices, "
            f"{rows['invoice_lines']:,} lines, {rows['invoice_line_taxes']:,} line taxes, "
            f"{rows['payments']:,} payments, {rows['events']:,} events, {rows['customers']:,} "
            f"customers; {ds['database_size']}; seeded in {ds['seconds']} s"
            + (" (reused)" if ds.get("reused") else "")
            + "."
        )
        out.append("")
    if results.get("scenarios"):
        out.append(
            "| scenario | saturation req/s | server CPU ms/req (saturation) | server CPU ms/req "
            "(fixed rate) | PostgreSQL CPU ms/req | p50 ms | p99 ms | fixed rate | peak RSS MiB "
            "| errors | budget: CPU ≤ / p99 ≤ |"
        )
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
        for s in results["scenarios"]:
            sat, fixed, budget = s["saturation"], s["fixed_rate"], s["budget"]
            errors = {**sat["errors"], **fixed["errors"]}
            # The CPU budgets are per request at saturation, as the perf anchor measures them
            # (wrk -c32): at 200/s each request also pays an event-loop wake-up of its own.
            cpu = sat["server_cpu_ms_per_request"]
            verdict = ""
            if budget["cpu_ms"] is not None:
                verdict = (
                    f"{budget['cpu_ms']} ms {_ok(cpu, budget['cpu_ms'])} / {budget['p99_ms']} ms "
                    f"{_ok(fixed['latency_ms']['p99'], budget['p99_ms'])}"
                )
            out.append(
                f"| {s['name']} | {_fmt(sat['rps'], 0)}"
                f" | {_fmt(sat['server_cpu_ms_per_request'], 3)}"
                f" | {_fmt(fixed['server_cpu_ms_per_request'], 3)}"
                f" | {_fmt(sat['postgres_cpu_ms_per_request'], 3)}"
                f" | {_fmt(fixed['latency_ms']['p50'])} | {_fmt(fixed['latency_ms']['p99'])}"
                f" | {_fmt(fixed['rps'], 0)}/s | {_fmt(s['peak_rss_mib'], 1)}"
                f" | {', '.join(f'{k}: {v}' for k, v in errors.items()) or '0'} | {verdict} |"
            )
        out.append("")
    heavy = results.get("heavy", {})
    if heavy:
        out.append(
            "| heavy endpoint | sequential p50 ms | max ms | server CPU ms/req | bytes "
            "| saturation req/s | peak RSS growth MiB | budget |"
        )
        out.append("|---|---:|---:|---:|---:|---:|---:|---|")
        for name, h in heavy.items():
            if h.get("available") is False:
                out.append(f"| {name} | not yet available (`{h['route']}` not served) |||||||")
                continue
            seq = h["sequential"]
            sat = h.get("saturation")
            if "budget_ms" in h:
                budget = f"≤ {h['budget_ms']} ms {_ok(seq['latency_ms']['p50'], h['budget_ms'])}"
            else:
                growth_budget = h["budget_rss_growth_mib"]
                budget = (
                    f"RSS growth ≤ {growth_budget} MiB "
                    f"{_ok(seq['peak_rss_growth_mib'], growth_budget)}"
                )
            out.append(
                f"| {name} | {_fmt(seq['latency_ms']['p50'], 1)}"
                f" | {_fmt(seq['latency_ms']['max'], 1)}"
                f" | {_fmt(seq['server_cpu_ms_per_request'], 1)} | {_fmt(seq['bytes'])}"
                f" | {_fmt(sat['rps'], 1) if sat else '–'} | {_fmt(seq['peak_rss_growth_mib'], 1)}"
                f" | {budget} |"
            )
        out.append("")
    other = []
    if "startup" in results:
        st = results["startup"]
        other.append(
            f"| start → /readyz 200 | median {st['median_s']:.2f} s, max {st['max_s']:.2f} s "
            f"({', '.join(f'{t:.2f}' for t in st['runs'])}) | ≤ 1.5 s {_ok(st['max_s'], 1.5)} |"
        )
    mem = results.get("main_server_memory_mib")
    if mem:
        other.append(
            f"| server RSS after the whole run | {mem['rss_after_run']} MiB (peak "
            f"{mem['peak_over_run']} MiB) | ≤ 150 MB {_ok(mem['rss_after_run'] * 1.048576, 150)} |"
        )
    for name, mm in results.get("metrics_middleware", {}).items():
        if name == "in-process":
            other.append(
                f"| metrics middleware, in-process | {mm['metrics_us_per_request']} µs per "
                f"request (bare ASGI call {mm['bare_us']} µs, with it {mm['with_metrics_us']} µs) "
                "| |"
            )
            continue
        other.append(
            f"| metrics middleware, {name} | throughput {-mm['throughput_cost_percent']:+.1f} % "
            f"(median {mm['with']['median_rps']:,.0f} vs "
            f"{mm['without']['median_rps']:,.0f} req/s), "
            f"CPU {mm['cpu_cost_us_per_request']:+.1f} µs/req ({mm['cpu_cost_percent']:+.1f} %) "
            f"| ≤ 3 % {_ok(mm['throughput_cost_percent'], 3)} |"
        )
    if other:
        out.append("| measure | result | budget |")
        out.append("|---|---|---|")
        out.extend(other)
        out.append("")
    if "anchor" in results:
        out.append(anchor_markdown(results["anchor"]))
    return "\n".join(out)


def anchor_markdown(anchor: dict[str, Any]) -> str:
    """The perf anchor (bench/anchor.py): Go ref, Python floor and Penvoice side by side."""
    sides = ("go", "floor", "penvoice")

    def cell(endpoint: dict[str, Any], side: str, key: str, digits: int) -> str:
        data = endpoint.get(side)
        if data is None:
            return "–"
        if key not in data:
            return f"HTTP {data['check']['status']}"
        errors = sum(sum(r["errors"].values()) for r in data["runs"])
        return _fmt(data[key], digits) + (f" ({errors:,} errors)" if errors else "")

    out = [
        f"Perf anchor: {anchor['tool']} after a {anchor['warmup_s']} s warm-up, "
        f"{anchor['rounds']} interleaved rounds, medians; Go ref: {anchor['go']}.",
        "",
        "| endpoint | Go req/s | Python floor req/s | Penvoice req/s | Go CPU ms/req "
        "| floor CPU ms/req | Penvoice CPU ms/req |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, endpoint in anchor["endpoints"].items():
        rps = [cell(endpoint, side, "median_rps", 0) for side in sides]
        cpu = [cell(endpoint, side, "median_cpu_ms", 3) for side in sides]
        if name == "get invoice":
            for i, side in ((1, "floor"), (2, "penvoice")):
                percent = anchor.get(f"{side}_get_percent_of_go")
                if percent is not None:
                    rps[i] += f" ({percent:g} % of Go)"
        route = endpoint.get("route", endpoint["path"])
        out.append(f"| `GET {route}` | {' | '.join(rps)} | {' | '.join(cpu)} |")
    percent = anchor.get("penvoice_get_percent_of_go")
    budget = anchor["budget_percent_of_go"]
    out.append("")
    verdict = {True: " ✅", False: " ❌", None: ""}[anchor.get("budget_ok")]
    measured = f"{percent:g} % of Go's" if percent is not None else "no Go figure"
    out.append(f"Penvoice get-invoice throughput: {measured}; budget ≥ {budget} %{verdict}")
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown(json.loads(Path(sys.argv[1]).read_text())))
