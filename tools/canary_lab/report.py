"""A scenario's report: `report.json` (everything), `report.md` (for people), `chart.png`.

Times are cluster seconds from the moment the update started (negative: the warm-up).
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from tools.canary_lab.analysis import ERROR, FAILED, INCONCLUSIVE, SUCCESSFUL, AnalysisRun
from tools.canary_lab.lab import Outcome
from tools.canary_lab.scenarios import COMPARE, ROLLOUT, SCOPED, SCOPED_RATE, SEED

GATE_NAMES = {
    SEED: "seed: namespace-wide rate (analysistemplate.yaml)",
    SCOPED: "variant: canary's user requests, lifetime (analysistemplate-canary.yaml)",
    SCOPED_RATE: "what-if: seed query + canary hash only",
    COMPARE: "canary vs stable (analysistemplate-compare.yaml)",
    ROLLOUT: "the Rollout's analysis: seed + canary vs stable",
}
GATE_COLOURS = {
    SEED: "#1f5fa8",
    SCOPED: "#d9822b",
    SCOPED_RATE: "#8e8e8e",
    COMPARE: "#27ae60",
    ROLLOUT: "#000000",
}
RATE_GATES = {SEED, SCOPED, SCOPED_RATE}
PHASE_FACES = {SUCCESSFUL: "white", FAILED: "#c0392b", INCONCLUSIVE: "#f1c40f", ERROR: "#7f8c8d"}


def _status_class(status: int | None) -> str:
    if status is None:
        return "no answer"
    return f"{status // 100}xx"


def run_verdict(outcome: Outcome, run: AnalysisRun) -> str:
    """What the Rollout would do, had this run been its gate."""
    steps = len(outcome.controller.spec.steps)
    if run.phase in {FAILED, ERROR} and run.finished_at is not None:
        index, weight = outcome.controller.step_at(run.finished_at)
        return f"abort at step {index + 1}/{steps} (setWeight {weight})"
    if run.phase == INCONCLUSIVE:
        return "pause (inconclusive)"
    if run.phase == SUCCESSFUL:
        return "promote" if outcome.verdict.outcome == "promoted" else "no abort"
    return "never started" if run.started_at is None else run.phase


def build_report(outcome: Outcome) -> dict[str, Any]:
    t0 = outcome.rollout_started_at
    steps = len(outcome.controller.spec.steps)
    runs = []
    for run in outcome.runs:
        data: dict[str, Any] = run.as_dict()
        data["verdict"] = run_verdict(outcome, run)
        for key in ("started_at", "finished_at"):
            if data[key] is not None:
                data[key] = round(float(data[key]) - t0, 1)
        for metric in data["metrics"]:
            for m in metric["measurements"]:
                m["t"] = round(m["t"] - t0, 1)
        runs.append(data)
    traffic: dict[str, Any] = {"rate": outcome.scenario.user_rate}
    if outcome.traffic is not None:
        by_role: dict[str, Counter[str]] = defaultdict(Counter)
        by_pod: dict[str, Counter[str]] = defaultdict(Counter)
        for record in outcome.traffic.records:
            status = _status_class(record.status)
            if record.error:
                status += f" ({record.error.split(':')[0]})"
            by_role[record.role][status] += 1
            by_role[record.role]["requests"] += 1
            by_pod[record.pod][status] += 1
            by_pod[record.pod]["requests"] += 1
        failures = [
            {
                "t": round(r.t - t0, 2),
                "pod": r.pod,
                "op": r.op,
                "status": r.status,
                "error": r.error,
            }
            for r in outcome.traffic.records
            if r.status is None or r.status >= 500
        ]
        traffic.update(
            failures=failures[:500],
            by_role={role: dict(c) for role, c in sorted(by_role.items())},
            by_pod={pod: dict(c) for pod, c in sorted(by_pod.items())},
            unrouted=outcome.traffic.unrouted,
            shed=outcome.traffic.shed,
        )
    pods = []
    for pod in outcome.cluster.pods:
        summary = pod.summary()
        for key in ("started_at", "ready_at", "terminating_at", "exited_at"):
            if summary[key] is not None:
                summary[key] = round(float(str(summary[key])) - t0, 1)
        for event in summary["events"]:  # type: ignore[attr-defined]
            event["t"] = round(event["t"] - t0, 1)
        pods.append(summary)
    return {
        "scenario": outcome.scenario.name,
        "title": outcome.scenario.title,
        "question": outcome.scenario.question,
        "verdict": {**outcome.verdict.as_dict(steps), "at": round(outcome.verdict.at - t0, 1)},
        "hashes": {
            "stable": outcome.controller.stable.template_hash,
            "canary": outcome.controller.canary.template_hash,
        },
        "gates": {
            "driving": outcome.scenario.driving,
            "side_by_side": list(outcome.scenario.side_by_side),
        },
        "analysis": runs,
        "traffic": traffic,
        "prometheus_recorded": outcome.prometheus_counts,
        "exposition_check": outcome.exposition_check,
        "pods": pods,
        "events": [{"t": round(t - t0, 1), "event": e} for t, e in outcome.controller.events],
        "steps": [
            {"t": round(t - t0, 1), "step_index": index, "set_weight": weight}
            for t, index, weight in outcome.controller.steps_log
        ],
        "timeline": [
            {
                "t": round(s.t - t0, 1),
                "set_weight": s.set_weight,
                "canary_endpoints": s.canary_endpoints,
                "stable_endpoints": s.stable_endpoints,
                "gate": {k: _json_float(v) for k, v in s.gate.items()},
            }
            for s in outcome.samples
        ],
        "canary_share": _canary_share(outcome),
        "settings": outcome.settings,
        "t0": outcome.rollout_started_at,
        "right_answer": outcome.scenario.right_answer,
        "wall_seconds": round(outcome.wall_seconds, 1),
    }


def _json_float(value: float | None) -> float | str | None:
    if value is None:
        return None
    if math.isnan(value):
        return "NaN"
    return round(value, 5)


def _canary_share(outcome: Outcome) -> list[dict[str, float]]:
    """The canary's share of the user requests, per scrape interval."""
    if outcome.traffic is None:
        return []
    width = float(outcome.settings["scrape_interval"]["cluster"])  # type: ignore[index]
    buckets: dict[int, Counter[str]] = defaultdict(Counter)
    for record in outcome.traffic.records:
        if record.op != "setup":
            buckets[math.floor((record.t - outcome.rollout_started_at) / width)][record.role] += 1
    return [
        {"t": (b + 0.5) * width, "share": c["canary"] / (c["canary"] + c["stable"])}
        for b, c in sorted(buckets.items())
        if c["canary"] + c["stable"]
    ]


def write_report(outcome: Outcome, directory: Path) -> dict[str, Any]:
    directory.mkdir(parents=True, exist_ok=True)
    report = build_report(outcome)
    (directory / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (directory / "report.md").write_text(markdown(report), encoding="utf-8")
    chart(report, directory / "chart.png")
    return report


def markdown(report: dict[str, Any]) -> str:
    settings = report["settings"]
    lines = [
        f"# {report['title']}",
        "",
        f"*{report['question']}*",
        "",
        f"**Verdict: {report['verdict']['headline']}** — {report['verdict']['reason']}",
        "",
        f"Time is cluster time, compressed {settings['compression']:g}× "
        f"(one lab second = {settings['compression']:g} cluster seconds); t = 0 is the update. "
        f"Stable hash `{report['hashes']['stable']}`, canary hash `{report['hashes']['canary']}`. "
        f"User traffic {settings['user_rate']['cluster']:g} req/s. "
        f"Wall time {report['wall_seconds']:g} s.",
        "",
        "![chart](chart.png)",
        "",
        "## Gates",
        "",
    ]
    for run in report["analysis"]:
        role = "drives the Rollout" if run["driving"] else "evaluated side by side"
        lines += [
            f"### {run['label']}: `{run['template']}` ({role})",
            "",
            f"Run phase **{run['phase']}**{': ' + run['message'] if run['message'] else ''} "
            f"→ the Rollout would **{run['verdict']}**.",
            "",
        ]
        for metric in run["metrics"]:
            counts = metric["counts"]
            lines += [
                f"`{metric['success_condition']}`, interval {metric['interval']:g}s, "
                f"failureLimit {metric['failure_limit']}, consecutiveErrorLimit "
                f"{metric['consecutive_error_limit']}; {counts['measurements']} measurements: "
                f"{counts['successful']} Successful, {counts['failed']} Failed, "
                f"{counts['error']} Error.",
                "",
                "```promql",
                metric["query"].strip(),
                "```",
                "",
                "sent to the lab's Prometheus with its ranges compressed as:",
                "",
                "```promql",
                metric["lab_query"].strip(),
                "```",
                "",
                "| t (s) | setWeight | value | phase | message |",
                "|---:|---:|---|---|---|",
            ]
            for m in metric["measurements"]:
                lines.append(
                    f"| {m['t']:g} | {m['set_weight']} | `{m['value']}` | {m['phase']} | "
                    f"{m['message']} |"
                )
            lines.append("")
    traffic = report["traffic"]
    lines += ["## Traffic (client side)", ""]
    if "by_pod" in traffic:
        lines += [
            "| pod | requests | 2xx | 4xx | 5xx | no answer |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for pod, counts in traffic["by_pod"].items():
            lines.append(
                f"| {pod} | {counts.get('requests', 0)} | {counts.get('2xx', 0)} | "
                f"{counts.get('4xx', 0)} | {counts.get('5xx', 0)} | "
                f"{sum(v for k, v in counts.items() if k.startswith('no answer'))} |"
            )
        lines += ["", f"Unrouted (no ready endpoint): {traffic['unrouted']}.", ""]
    else:
        lines += ["No user traffic.", ""]
    lines += [
        "## What Prometheus recorded (http_requests_total by pod-template hash)",
        "",
        "```json",
        json.dumps(report["prometheus_recorded"], indent=2, sort_keys=True),
        "```",
        "",
        f"`promtool check metrics` on a live pod's `/metrics`: "
        f"{'passed' if report['exposition_check']['ok'] else 'FAILED'}.",
        "",
        "## Pods",
        "",
        "| pod | role | created | ready | terminating | exit | probes |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for pod in report["pods"]:
        probes = ", ".join(f"{k}: {v}" for k, v in pod["probes"].items())
        lines.append(
            f"| {pod['pod']} | {pod['role']} | {pod['started_at']} | {pod['ready_at']} | "
            f"{pod['terminating_at']} | {pod['exit_code']} | {probes} |"
        )
    lines += ["", "## Rollout events", ""]
    lines += [f"- t={e['t']:g}: {e['event']}" for e in report["events"]]
    return "\n".join(lines) + "\n"


def chart(report: dict[str, Any], path: Path) -> None:
    """Top: each gate's value over time and its reads; bottom: setWeight and the canary's
    real share of ready pods and of user requests."""
    import matplotlib  # noqa: PLC0415 - a dev dependency, loaded only to draw

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    metric_runs = [r for r in report["analysis"] if r["label"] not in RATE_GATES]
    rows = sum(len(r["metrics"]) for r in metric_runs)
    if rows:
        figure, (top, middle, bottom) = plt.subplots(
            3, 1, figsize=(10, 8.6), sharex=True, height_ratios=[3, 0.3 + 0.28 * rows, 2]
        )
        axes: tuple[Any, ...] = (top, middle, bottom)
        _draw_metric_reads(middle, metric_runs)
    else:
        figure, (top, bottom) = plt.subplots(
            2, 1, figsize=(10, 6.4), sharex=True, height_ratios=[3, 2]
        )
        axes = (top, bottom)
    figure.subplots_adjust(
        left=0.2 if rows else 0.08, right=0.98, top=0.9, bottom=0.09, hspace=0.06
    )
    _draw_gates(top, report)
    _draw_weights(bottom, report)
    verdict = report["verdict"]
    top.set_title(f"{report['title']}\n{verdict['headline']}", fontsize=11)
    for start, end, what in report["settings"].get("outages", []):
        for axis in axes:
            axis.axvspan(start - report["t0"], end - report["t0"], color="#f5b7b1", alpha=0.4)
        top.text(start - report["t0"], 1.0, f" {what} down", fontsize=8, va="top")
    for axis in axes:
        axis.axvline(0, color="black", linewidth=0.6)
        axis.axvline(verdict["at"], color="#8e44ad", linewidth=1)
        axis.grid(alpha=0.3)
    bottom.text(verdict["at"], 95, f" {verdict['outcome']}", color="#8e44ad", fontsize=9)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _draw_metric_reads(axis: Any, runs: list[dict[str, Any]]) -> None:
    """One row per metric of the multi-metric gates: each read, coloured by its phase."""
    labels: list[str] = []
    for run in runs:
        colour = GATE_COLOURS.get(run["label"], "black")
        for metric in run["metrics"]:
            row = len(labels)
            labels.append(f"{run['label']}: {metric['metric']}")
            for m in metric["measurements"]:
                face = PHASE_FACES.get(m["phase"], "white")
                marker = {FAILED: "X", ERROR: "s", INCONCLUSIVE: "D"}.get(m["phase"], "o")
                axis.plot(m["t"], row, marker, color=colour, markerfacecolor=face, markersize=6)
    axis.set_yticks(range(len(labels)))
    axis.set_yticklabels(labels, fontsize=7)
    axis.set_ylim(-0.6, len(labels) - 0.4)
    axis.invert_yaxis()


def _draw_gates(top: Any, report: dict[str, Any]) -> None:
    timeline = report["timeline"]
    times = [s["t"] for s in timeline]
    runs = report["analysis"]
    numbers = [_number(value) for s in timeline for value in s["gate"].values()]
    numbers += [
        _number(_first(m["value"]))
        for run in runs
        if run["label"] in RATE_GATES
        for metric in run["metrics"]
        for m in metric["measurements"]
    ]
    lowest = min([1.0, *[v for v in numbers if not math.isnan(v)]])
    floor = min(0.85, math.floor((lowest - 0.1) * 20) / 20)  # room for the legend below
    gates = report["gates"]
    for key in [gates["driving"], *gates["side_by_side"]]:
        if key not in RATE_GATES:
            continue
        driving = key == gates["driving"]
        name = GATE_NAMES.get(key, key) + (" — drives" if driving else " — side by side")
        values = [_number(s["gate"].get(key)) for s in timeline]
        top.plot(times, values, "-" if driving else "--", color=GATE_COLOURS[key], label=name)
    if not runs:
        top.text(
            0.5,
            0.6,
            "no analysis run: the Rollout never reached startingStep\n"
            "(the lines show what each gate's query reads)",
            transform=top.transAxes,
            ha="center",
            fontsize=9,
        )
    for run in runs:
        if run["label"] not in RATE_GATES:
            continue  # multi-metric gates: their own panel
        colour = GATE_COLOURS.get(run["label"], "black")
        for metric in run["metrics"]:
            for m in metric["measurements"]:
                value = _number(_first(m["value"]))
                face = {SUCCESSFUL: "white", FAILED: "#c0392b"}.get(m["phase"], "#7f8c8d")
                if math.isnan(value):  # `[]` or `[NaN]`: drawn on the bottom edge
                    top.plot(m["t"], floor + 0.008, "v", color=colour, markerfacecolor=face)
                    continue
                marker = {SUCCESSFUL: "o", FAILED: "X"}.get(m["phase"], "s")
                top.plot(m["t"], value, marker, color=colour, markerfacecolor=face, markersize=7)
    top.axhline(0.95, color="#c0392b", linewidth=0.8, linestyle=":")
    top.text(times[0] if times else 0, 0.952, "successCondition: result[0] >= 0.95", fontsize=8)
    top.set_ylim(floor, 1.005)
    top.set_ylabel("success rate (gate query)")
    top.plot([], [], "o", color="black", markerfacecolor="white", label="read: Successful")
    top.plot([], [], "X", color="black", markerfacecolor="#c0392b", label="read: Failed")
    top.plot([], [], "s", color="black", markerfacecolor="#7f8c8d", label="read: Error")
    top.plot([], [], "v", color="black", markerfacecolor="white", label="read without a value")
    top.legend(loc="lower left", fontsize=7.5, ncol=2)


def _draw_weights(bottom: Any, report: dict[str, Any]) -> None:
    timeline = report["timeline"]
    times = [s["t"] for s in timeline]
    first, last = (times[0], times[-1]) if times else (0.0, 0.0)
    weights = [0] + [s["set_weight"] for s in report["steps"]]
    bottom.step(
        [first] + [s["t"] for s in report["steps"]] + [last],
        [*weights, weights[-1]],
        where="post",
        color="black",
        label="setWeight",
    )
    bottom.plot(
        times,
        [
            100 * s["canary_endpoints"] / max(1, s["canary_endpoints"] + s["stable_endpoints"])
            for s in timeline
        ],
        color="#7f8c8d",
        linewidth=1,
        linestyle="--",
        label="canary share of ready pods",
    )
    share = report["canary_share"]
    if share:
        bottom.plot(
            [s["t"] for s in share],
            [100 * s["share"] for s in share],
            ".",
            color="#27ae60",
            label="canary share of user requests",
        )
    bottom.set_ylim(-5, 105)
    bottom.set_ylabel("canary %")
    bottom.set_xlabel(
        "cluster seconds since the update (compressed "
        f"{report['settings']['compression']:g}× in the lab)"
    )
    bottom.legend(loc="upper left", fontsize=8)


def _first(value: str) -> float | None:
    text = value.strip("[]")
    if not text:
        return None
    return float(text.split(",")[0])


def _number(value: float | str | None) -> float:
    if value is None or value == "NaN":
        return math.nan
    return float(value)
