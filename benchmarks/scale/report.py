"""The markdown table of a run's figures, code trees side by side."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scale.build import MIB

# --------------------------------------------------------------------------- report


def _route_cell(r: dict[str, Any] | None, budget_ms: float, max_bytes: int) -> str:
    if not r:
        return "-"
    if r.get("timed_out"):
        return f"> {r['timeout_s']:g} s"
    if r.get("status") != 200:
        return f"HTTP {r.get('status')}"
    if "seconds" in r:
        return f"{r['seconds']:.1f} s, {r['bytes'] / MIB:.1f} MiB"
    if r.get("timed_out_warm"):
        return f"cold {r['cold_ms']:.0f} ms, warm > timeout"
    size = r["bytes"]
    shown = f"{size / 1024:.0f} KiB" if size < MIB else f"{size / MIB:.1f} MiB"
    if r.get("cold_only"):
        return f"cold {r['cold_ms'] / 1000:.1f} s, {shown} ✗"
    ok = r["p95_ms"] <= budget_ms and size <= max_bytes
    mark = "" if ok else " ✗"
    return f"{r['p50_ms']:.0f} / {r['p95_ms']:.0f} ms, {shown}{mark}"


def _cli_cell(r: dict[str, Any] | None, rate_key: str = "") -> str:
    if not r:
        return "-"
    if r.get("timed_out"):
        return f"> {r['seconds']:.0f} s (peak {r['peak_rss_mib']:.0f} MiB)"
    if r.get("rc"):
        return f"failed (rc {r['rc']})"
    rate = f", {r[rate_key]:,}/s" if rate_key and rate_key in r else ""
    cpu = f" (CPU {r['cpu_s']:.0f} s)" if "cpu_s" in r else ""
    return f"{r['seconds']:.1f} s{cpu}{rate}, peak {r['peak_rss_mib']:.0f} MiB"


def markdown(results: dict[str, Any]) -> str:
    runs = results["runs"]
    cols = [(db, code) for db in results["dbs"] for code in results["codes"]]
    head = "| measurement | " + " | ".join(f"{db} {code}" for db, code in cols) + " |"
    lines = [head, "|" + " --- |" * (len(cols) + 1)]

    def row(label: str, cell: Callable[[dict[str, Any]], str]) -> None:
        cells = []
        for db, code in cols:
            run = runs.get(f"{code}-{db}")
            cells.append("-" if not run or ("error" in run and len(run) <= 3) else cell(run))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    labels: list[str] = []
    for run in runs.values():
        for label in run.get("routes", {}):
            if label not in labels:
                labels.append(label)

    def build(r: dict[str, Any]) -> str:
        b = r.get("build", {})
        if "qa_fill_s" not in b:
            return f"{b.get('build_s', '-')}"
        return (
            f"{b['build_s']} (CPU {b.get('build_cpu_s', '-')}): insert {b['insert_s']}, "
            f"QA fill {b['qa_fill_s']} (CPU {b['qa_fill_cpu_s']}), {b['findings']:,} findings"
        )

    row("build (bulk insert + QA fill, once per database), s", build)
    row(
        "migrate the copy to the tree's head, s",
        lambda r: f"{r.get('upgrade', {}).get('upgrade_s', '-')}",
    )
    for label in labels:
        row(
            f"GET {label}",
            lambda r, lb=label: _route_cell(r.get("routes", {}).get(lb), 300, 2 * MIB),
        )

    def saves(r: dict[str, Any]) -> str:
        s = r.get("saves under load")
        if not s or "p99_ms" not in s:
            return f"failed: {s.get('errors') if s else '-'}"
        mark = "" if s["p99_ms"] <= 50 else " ✗"
        return f"p50 {s['p50_ms']:.0f} / p99 {s['p99_ms']:.0f} ms ({s['saves']} saves){mark}"

    row(f"{results.get('annotators', 20)} paced annotators' saves under load", saves)
    row(
        "QA re-run job (instances/s of wall time)",
        lambda r: _cli_cell(r.get("qa re-run"), "instances_per_s"),
    )
    row(
        "QA re-run job (instances/s of CPU time)",
        lambda r: f"{r.get('qa re-run', {}).get('instances_per_cpu_s', 0):,}",
    )
    row("`posemark export` (instances/s)", lambda r: _cli_cell(r.get("export"), "instances_per_s"))
    row("`posemark import` subset (images/s)", lambda r: _cli_cell(r.get("import"), "images_per_s"))
    row("server RSS after routes, MiB", lambda r: f"{r.get('server rss after routes (MiB)', '-')}")
    row("server peak RSS, MiB", lambda r: f"{r.get('server peak rss (MiB)', '-')}")
    row("server restarts (timeouts)", lambda r: f"{r.get('server restarts (timeouts)', '-')}")
    row(
        "load average (1 min) before / after",
        lambda r: (
            f"{r.get('load average before', ['-'])[0]} / {r.get('load average after', ['-'])[0]}"
        ),
    )
    errors = [f"- {key}: {run['error'][:500]}" for key, run in runs.items() if "error" in run]
    return "\n".join(lines + (["", *errors] if errors else [])) + "\n"
