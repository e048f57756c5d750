"""The project report (services/report.py) as CSV, JSON or a self-contained HTML page.

CSV is long format, one figure per row: ``section,key,metric,value`` (a spreadsheet's
pivot table or pandas turns it into any table); a figure that does not exist yet (a
rate with nothing reviewed) is an empty value. HTML is one file with inline SVG bar
charts and no external resource, so it can be mailed or archived as it is.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterator, Sequence
from typing import Any

REPORT_FORMATS: tuple[str, ...] = ("json", "csv", "html")
CSV_HEADER = ("section", "key", "metric", "value")

Row = tuple[str, str, str, Any]


def render(report: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2) + "\n"
    if fmt == "csv":
        return to_csv(report)
    if fmt == "html":
        return to_html(report)
    raise ValueError(f"format: expected one of {', '.join(REPORT_FORMATS)}, found {fmt!r}")


def rows(report: dict[str, Any]) -> Iterator[Row]:
    """Every figure of the report as (section, key, metric, value)."""
    p = report["progress"]
    yield ("progress", "all", "items", p["items"])
    for state, n in p["by_state"].items():
        yield ("progress", "all", state, n)
    for job in p["jobs"]:
        key = f"job:{job['name']}"
        yield ("progress", key, "items", job["items"])
        for state, n in job["by_state"].items():
            yield ("progress", key, state, n)
    for a in p["annotators"]:
        key = f"annotator:{a['username']}"
        yield ("progress", key, "items", a["items"])
        for state, n in a["by_state"].items():
            yield ("progress", key, state, n)
    t = report["throughput"]
    for metric in ("instances", "hours", "instances_per_hour"):
        yield ("throughput", "all", metric, t[metric])
    for a in t["annotators"]:
        for metric in ("saves", "items", "instances", "hours", "instances_per_hour"):
            yield ("throughput", f"annotator:{a['username']}", metric, a[metric])
    r = report["rejection"]
    for metric in ("reviewed", "returned", "rate"):
        yield ("rejection", "all", metric, r[metric])
    for a in r["annotators"]:
        for metric in ("reviewed", "returned", "rate"):
            yield ("rejection", f"annotator:{a['username']}", metric, a[metric])
    f = report["findings"]
    yield ("findings", "all", "total", f["total"])
    yield ("findings", "all", "items awaiting refresh", f["awaiting_refresh"])
    for c in f["by_check"]:
        yield ("findings", f"check:{c['check']}", c["severity"], c["count"])
    ag = report["agreement"]
    for metric, value in ag["overall"].items():
        yield ("agreement", "all", metric, value)
    for a in ag["annotators"]:
        for metric in ("items", "mean_oks_vs_others", "mean_oks_vs_consensus"):
            yield ("agreement", f"annotator:{a['username']}", metric, a[metric])
    for k in ag["keypoints"]:
        yield ("agreement", f"keypoint:{k['keypoint']}", "mean_oks", k["mean_oks"])
    for item in ag["items"]:
        yield ("agreement", f"item:{item['file_name']}", "mean_oks", item["mean_oks"])
    g = report["gold"]
    yield ("gold", "all", "gold_items", g["gold_items"])
    for a in g["annotators"]:
        for metric in ("items", "mean_oks", "keypoint_accuracy", "missed", "extra"):
            yield ("gold", f"annotator:{a['username']}", metric, a[metric])


def to_csv(report: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for section, key, metric, value in rows(report):
        writer.writerow((section, key, metric, "" if value is None else _plain(value)))
    return buf.getvalue()


def _plain(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


# --- HTML ---------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def bar_chart(
    bars: Sequence[tuple[str, float | None]], scale: float | None = None, digits: int = 3
) -> str:
    """A horizontal bar chart as inline SVG (one bar per label, the value printed)."""
    values = [v for _, v in bars if v is not None]
    top = scale if scale is not None else max(values, default=0.0) or 1.0
    row, label_w, bar_w = 22, 170, 300
    height = row * len(bars) + 4
    parts = [
        f'<svg class="bar-chart" xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 80}" '
        f'height="{height}" role="img">'
    ]
    for n, (label, value) in enumerate(bars):
        y = n * row + 2
        w = 0.0 if value is None else max(0.0, min(1.0, value / top)) * bar_w
        text = html.escape(label)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="12">{text}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="#4c78a8">'
            f"<title>{text}: {html.escape(_fmt(value, digits))}</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" font-size="12" data-label="{text}">'
            f"{html.escape(_fmt(value, digits))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    lines = [
        "<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r) + "</tr>" for r in body
    ]
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 60rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .9rem; }
th, td { border: 1px solid #ccc; padding: .2rem .5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.note { color: #666; font-size: .85rem; }
"""


def to_html(report: dict[str, Any]) -> str:
    p, t, r = report["progress"], report["throughput"], report["rejection"]
    f, ag, g = report["findings"], report["agreement"], report["gold"]
    name = html.escape(report["project"]["name"])
    states = list(p["by_state"])
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>posemark report: {name}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Quality report: {name}</h1>",
        f"<p class='note'>generated {html.escape(report['generated_at'])}</p>",
        f"<h2 id='progress'>Progress ({p['items']} items)</h2>",
        bar_chart([(s, float(n)) for s, n in p["by_state"].items()], digits=0),
        _table(
            ["job", "annotator", "items", *states],
            [
                [j["name"], j["annotator"] or "", j["items"], *j["by_state"].values()]
                for j in p["jobs"]
            ],
        ),
        _table(
            ["annotator", "items", *states],
            [[a["username"], a["items"], *a["by_state"].values()] for a in p["annotators"]],
        ),
        "<h2 id='throughput'>Throughput (instances per hour)</h2>",
        bar_chart([(a["username"], a["instances_per_hour"]) for a in t["annotators"]], digits=1),
        _table(
            ["annotator", "saves", "items", "instances", "hours", "instances per hour"],
            [
                [
                    a["username"],
                    a["saves"],
                    a["items"],
                    a["instances"],
                    a["hours"],
                    a["instances_per_hour"],
                ]
                for a in t["annotators"]
            ],
        ),
        f"<p class='note'>working time: gaps between saves up to {t['idle_gap_minutes']:.0f} "
        "minutes.</p>",
        f"<h2 id='rejection'>Rejection rate: {html.escape(_fmt(r['rate']))} "
        f"({r['returned']} returned of {r['reviewed']} reviewed)</h2>",
        bar_chart([(a["username"], a["rate"]) for a in r["annotators"]], scale=1.0),
        f"<h2 id='findings'>QA findings ({f['total']})</h2>",
        (
            f"<p class='note'>{f['awaiting_refresh']} items await their QA refresh after an "
            "import: their findings are not counted yet.</p>"
            if f["awaiting_refresh"]
            else ""
        ),
        bar_chart(
            [(f"{c['check']} ({c['severity']})", float(c["count"])) for c in f["by_check"]],
            digits=0,
        ),
        f"<h2 id='agreement'>Agreement (mean OKS {html.escape(_fmt(ag['overall']['mean_oks']))}"
        f" over {ag['overall']['compared_items']} overlap items)</h2>",
        bar_chart([(a["username"], a["mean_oks_vs_others"]) for a in ag["annotators"]], scale=1.0),
        _table(
            ["annotator", "items", "OKS vs others", "OKS vs consensus"],
            [
                [a["username"], a["items"], a["mean_oks_vs_others"], a["mean_oks_vs_consensus"]]
                for a in ag["annotators"]
            ],
        ),
        "<h3>Per keypoint</h3>",
        bar_chart([(k["keypoint"], k["mean_oks"]) for k in ag["keypoints"]], scale=1.0),
        f"<h2 id='gold'>Gold accuracy ({g['gold_items']} gold items)</h2>",
        bar_chart([(a["username"], a["mean_oks"]) for a in g["annotators"]], scale=1.0),
        _table(
            ["annotator", "items", "mean OKS", "keypoint accuracy (OKS 0.5)", "missed", "extra"],
            [
                [
                    a["username"],
                    a["items"],
                    a["mean_oks"],
                    a["keypoint_accuracy"],
                    a["missed"],
                    a["extra"],
                ]
                for a in g["annotators"]
            ],
        ),
        "</body></html>\n",
    ]
    return "\n".join(out)
