"""Benchmark reading a COCO-train-sized person-keypoints file: posemark vs others.

Every measurement runs in a FRESH Python subprocess, so peak RSS belongs to one reader
alone and every reader pays its own imports. In each child:

* import time  -- ``time.perf_counter`` around the reader's imports;
* baseline RSS -- resident set size right after the imports (``VmRSS``);
* read time    -- ``time.perf_counter`` around the read call only;
* peak RSS     -- ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at the end (whole life
  of the child: interpreter + imports + the read);
* annotations  -- how many annotations the reader loaded (all must agree).

Readers:

* ``posemark``       ``posemark.formats.coco_io.read_coco(path)``
* ``pycocotools``    ``pycocotools.coco.COCO(path)`` (its prints suppressed)
* ``sleap-io``       ``sleap_io.load_coco(path, dataset_root=DIR, segmentation_format=...)``.
  sleap-io drops every image (and its annotations) whose file is not on disk, so the
  harness first creates zero-byte placeholder files for all ``file_name`` entries in a
  temporary folder and passes it as ``dataset_root`` (creation is not timed). Default
  ``--sleap-seg roi`` keeps polygons as vector ROIs, like posemark and pycocotools do;
  sleap-io's own default (``mask``) rasterizes every polygon to a full-image mask,
  which takes ~7 ms per annotation (about half an hour for this file).
* ``posemark-write`` ``read_coco`` then ``write_coco(dataset, out)`` in one child; the
  write is timed on its own; peak RSS covers read + write.

Each reader runs ``--repeat`` times (default 3, fresh process each, readers interleaved
round-robin); the table shows medians. Targets: posemark reads at least
3x faster than pycocotools and peaks at no more than a quarter of pycocotools' RSS.

    python benchmarks/bench_coco_read.py [--file F] [--repeat N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_FILE = HERE / "data" / "coco_train_like.json"
DEFAULT_ANNOTATIONS = 250_000
READERS = ("posemark", "pycocotools", "sleap-io", "posemark-write")
MARK = "@@BENCH-RESULT "
SPEEDUP_TARGET = 3.0  # pycocotools time / posemark time >= this
MEMORY_TARGET = 0.25  # posemark peak / pycocotools peak <= this
MIB = 1024 * 1024


# ----------------------------------------------------------------------------- child


def _rss_now_mib() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _peak_mib()


def _peak_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MIB if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def _child(reader: str, path: str, extra: str) -> None:
    """Run one measurement and print one ``MARK``-prefixed JSON line on stdout."""
    import contextlib
    import io
    import warnings

    res: dict[str, Any] = {"reader": reader}
    caught: list[warnings.WarningMessage] = []
    try:
        t0 = time.perf_counter()
        if reader in ("posemark", "posemark-write"):
            from posemark.formats.coco_io import read_coco, write_coco
        elif reader == "pycocotools":
            from pycocotools.coco import COCO
        elif reader == "sleap-io":
            # sleap_io imports lazily; import what load_coco uses up front so the import
            # cost lands in import_s (as for the other readers), not in the read time.
            import sleap_io.io.coco  # noqa: F401
            from sleap_io.io.main import load_coco
        else:
            raise ValueError(f"unknown reader {reader!r}")
        res["import_s"] = time.perf_counter() - t0
        res["baseline_mib"] = _rss_now_mib()

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if reader in ("posemark", "posemark-write"):
                t0 = time.perf_counter()
                ds = read_coco(path)
                res["read_s"] = time.perf_counter() - t0
                res["annotations"] = len(ds.instances)
                if reader == "posemark-write":
                    out = Path(extra)
                    t0 = time.perf_counter()
                    write_coco(ds, out)
                    res["write_s"] = time.perf_counter() - t0
                    res["written_mb"] = out.stat().st_size / 1e6
            elif reader == "pycocotools":
                sink = io.StringIO()
                with contextlib.redirect_stdout(sink):
                    t0 = time.perf_counter()
                    coco = COCO(path)
                    res["read_s"] = time.perf_counter() - t0
                res["annotations"] = len(coco.anns)
            else:
                root, seg = extra.split(os.pathsep, 1)
                t0 = time.perf_counter()
                labels = load_coco(path, dataset_root=root, segmentation_format=seg)
                res["read_s"] = time.perf_counter() - t0
                res["annotations"] = sum(len(lf.instances) for lf in labels.labeled_frames)
    except BaseException as exc:  # report, don't crash: the parent shows the error
        res["error"] = f"{type(exc).__name__}: {exc}"[:500]
    res["peak_mib"] = _peak_mib()
    if caught:
        res["warnings"] = len(caught)
        res["first_warning"] = f"{caught[0].category.__name__}: {caught[0].message}"[:300]
    sys.stdout.write(MARK + json.dumps(res) + "\n")
    sys.stdout.flush()


def _child_placeholders(path: str, root: str) -> None:
    """Create a zero-byte file for every image ``file_name`` (for sleap-io's lookup)."""
    with open(path, "rb") as fh:
        images = json.load(fh).get("images", [])
    base = Path(root)
    made = skipped = 0
    for img in images:
        rel = Path(str(img.get("file_name", "")))
        if not rel.parts or rel.is_absolute() or ".." in rel.parts:
            skipped += 1
            continue
        target = base / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
        made += 1
    sys.stdout.write(MARK + json.dumps({"made": made, "skipped": skipped}) + "\n")


# ---------------------------------------------------------------------------- parent


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _run_child(args: list[str], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-X", "utf8", str(Path(__file__).resolve()), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:g} s (child killed)"}
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK) :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"error": f"child exited {proc.returncode}: " + " | ".join(tail)}


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_facts() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    try:
        with open("/proc/meminfo") as fh:
            mem_gib = round(int(fh.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        mem_gib = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "load_avg_at_start": load,
        "mem_total_gib": mem_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "msgspec": _version("msgspec"),
        "posemark": _version("posemark"),
        "pycocotools": _version("pycocotools"),
        "sleap-io": _version("sleap-io"),
    }


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    vals = [r[key] for r in runs if key in r and "error" not in r]
    return statistics.median(vals) if vals else None


def summarize(results: dict[str, list[dict[str, Any]]], expect: int | None) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for reader, runs in results.items():
        ok = [r for r in runs if "error" not in r]
        med = {
            k: _median(runs, k)
            for k in ("import_s", "baseline_mib", "read_s", "write_s", "peak_mib", "written_mb")
        }
        med = {k: v for k, v in med.items() if v is not None}
        counts = sorted({r["annotations"] for r in ok if "annotations" in r})
        summary[reader] = {
            "ok_runs": len(ok),
            "runs": len(runs),
            "median": med,
            "annotations": counts[0] if len(counts) == 1 else counts or None,
            "errors": sorted({r["error"] for r in runs if "error" in r}),
            "warnings": next((r["first_warning"] for r in ok if "first_warning" in r), None),
        }

    counts = {r: s["annotations"] for r, s in summary.items() if s["annotations"] is not None}
    distinct = {json.dumps(c) for c in counts.values()}
    agree = len(distinct) <= 1 and all(isinstance(c, int) for c in counts.values())
    if expect is not None:
        agree = agree and all(c == expect for c in counts.values())
    sanity = {"expected": expect, "counts": counts, "agree": agree}

    ratios: dict[str, Any] = {}
    targets: dict[str, Any] = {}
    pm = summary.get("posemark", {}).get("median", {})
    pc = summary.get("pycocotools", {}).get("median", {})
    if "read_s" in pm and "read_s" in pc:
        speedup = pc["read_s"] / pm["read_s"]
        ratios["speedup_vs_pycocotools"] = speedup
        targets["speed"] = {
            "target": f">= {SPEEDUP_TARGET:g}x faster than pycocotools",
            "value": speedup,
            "pass": speedup >= SPEEDUP_TARGET,
        }
    if "peak_mib" in pm and "peak_mib" in pc:
        frac = pm["peak_mib"] / pc["peak_mib"]
        ratios["peak_fraction_of_pycocotools"] = frac
        targets["memory"] = {
            "target": f"peak RSS <= {MEMORY_TARGET:g} x pycocotools",
            "value": frac,
            "pass": frac <= MEMORY_TARGET,
        }
    sp = summary.get("sleap-io", {}).get("median", {})
    if "read_s" in pm and "read_s" in sp:
        ratios["speedup_vs_sleap_io"] = sp["read_s"] / pm["read_s"]
    if "peak_mib" in pm and "peak_mib" in sp:
        ratios["peak_fraction_of_sleap_io"] = pm["peak_mib"] / sp["peak_mib"]
    return {"readers": summary, "sanity": sanity, "ratios": ratios, "targets": targets}


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def render(report: dict[str, Any]) -> None:
    m, f, s = report["machine"], report["file"], report["summary"]
    lines = [
        f"Machine: {m['cpu']} | {m['cores']} cores ({m['usable_cores']} usable) | "
        f"{m['mem_total_gib']} GiB RAM | load avg at start {m['load_avg_at_start']}",
        f"Python {m['python']} | numpy {m['numpy']} | msgspec {m['msgspec']} | "
        f"posemark {m['posemark']} | pycocotools {m['pycocotools']} | sleap-io {m['sleap-io']}",
        f"File: {f['path']} ({f['size_mb']:.1f} MB) | repeat {report['repeat']} "
        f"(median shown) | sleap-io segmentation_format={report['sleap_seg']!r}",
    ]
    header = [
        "reader",
        "read s",
        "write s",
        "import s",
        "base MiB",
        "peak MiB",
        "peak-base MiB",
        "annotations",
        "ok",
    ]
    rows = []
    for reader, r in s["readers"].items():
        md = r["median"]
        delta = (
            md["peak_mib"] - md["baseline_mib"]
            if {"peak_mib", "baseline_mib"} <= md.keys()
            else None
        )
        ann = r["annotations"]
        rows.append(
            [
                reader,
                _fmt(md.get("read_s"), ".2f"),
                _fmt(md.get("write_s"), ".2f"),
                _fmt(md.get("import_s"), ".2f"),
                _fmt(md.get("baseline_mib"), ".0f"),
                _fmt(md.get("peak_mib"), ".0f"),
                _fmt(delta, ".0f"),
                f"{ann:,}" if isinstance(ann, int) else str(ann if ann is not None else "-"),
                f"{r['ok_runs']}/{r['runs']}",
            ]
        )
    notes = []
    for reader, r in s["readers"].items():
        notes.extend(f"{reader}: ERROR {e}" for e in r["errors"])
        if r["warnings"]:
            notes.append(f"{reader}: warned: {r['warnings']}")
    ratio_lines = []
    rt = s["ratios"]
    if "speedup_vs_pycocotools" in rt:
        ratio_lines.append(
            f"pycocotools time / posemark time = {rt['speedup_vs_pycocotools']:.2f}x"
        )
    if "peak_fraction_of_pycocotools" in rt:
        ratio_lines.append(
            f"posemark peak / pycocotools peak = {rt['peak_fraction_of_pycocotools']:.3f}"
        )
    if "speedup_vs_sleap_io" in rt:
        ratio_lines.append(f"sleap-io time / posemark time = {rt['speedup_vs_sleap_io']:.2f}x")
    if "peak_fraction_of_sleap_io" in rt:
        ratio_lines.append(f"posemark peak / sleap-io peak = {rt['peak_fraction_of_sleap_io']:.3f}")
    target_lines = [
        f"{'PASS' if t['pass'] else 'MISS'}  {name}: {t['target']} (measured {t['value']:.3g})"
        for name, t in s["targets"].items()
    ]
    if not s["targets"]:
        target_lines.append("targets not evaluated (posemark and pycocotools both needed)")
    san = s["sanity"]
    counts = ", ".join(
        f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in san["counts"].items()
    )
    expect = f"{san['expected']:,}" if san["expected"] is not None else "n/a"
    sanity_line = (
        f"{'OK' if san['agree'] else 'MISMATCH'}  annotation counts (expected {expect}): {counts}"
    )

    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        Console = None
    if Console is not None:
        con = Console()
        con.width = max(con.width, 120)  # piped output defaults to 80 columns
        for line in lines:
            con.print(line, highlight=False, markup=False, soft_wrap=True)
        table = Table(title="COCO read benchmark (medians)")
        for i, h in enumerate(header):
            table.add_column(h, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*row)
        con.print(table)
        for line in notes + ratio_lines + target_lines + [sanity_line]:
            style = "green" if line.startswith(("PASS", "OK")) else None
            if line.startswith(("MISS", "MISMATCH")) or "ERROR" in line:
                style = "red"
            con.print(line, style=style, highlight=False, markup=False, soft_wrap=True)
        return
    for line in lines:
        print(line)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    for row in [header, *rows]:
        print(
            "  ".join(
                str(c).ljust(w) if i == 0 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    for line in notes + ratio_lines + target_lines + [sanity_line]:
        print(line)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--file", type=Path, help=f"COCO file to read (default: generate {DEFAULT_FILE})"
    )
    ap.add_argument(
        "--repeat", type=int, default=3, help="fresh processes per reader (median shown)"
    )
    ap.add_argument(
        "--readers",
        default=",".join(READERS),
        help=f"comma-separated subset of {', '.join(READERS)}",
    )
    ap.add_argument(
        "--sleap-seg",
        choices=("roi", "mask"),
        default="roi",
        help="sleap-io segmentation_format (its default 'mask' rasterizes every polygon)",
    )
    ap.add_argument(
        "--expect",
        type=int,
        help="expected annotation count (default: 250,000 for the generated file)",
    )
    ap.add_argument(
        "--timeout", type=float, default=1800, help="seconds per child before it is killed"
    )
    ap.add_argument("--json", action="store_true", help="print machine-readable results only")
    ap.add_argument("--_child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--_placeholders", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args._child:
        _child(*args._child)
        return 0
    if args._placeholders:
        _child_placeholders(*args._placeholders)
        return 0

    readers = [r.strip() for r in args.readers.split(",") if r.strip()]
    unknown = [r for r in readers if r not in READERS]
    if unknown or not readers or args.repeat < 1:
        ap.error(f"bad --readers {unknown} or --repeat (readers: {', '.join(READERS)})")

    expect = args.expect
    if args.file is None:
        path = DEFAULT_FILE
        if expect is None:
            expect = DEFAULT_ANNOTATIONS
        if not path.exists():
            _log(f"generating {path} ...")
            subprocess.run(
                [sys.executable, str(HERE / "make_synthetic_coco.py"), str(path)],
                check=True,
                stdout=sys.stderr,
            )
    else:
        path = args.file
        if not path.exists():
            ap.error(f"{path} does not exist")
    path = path.resolve()

    machine = machine_facts()
    # Warm the page cache so no reader pays for a cold disk read the others skip.
    with open(path, "rb") as fh:
        while fh.read(16 * MIB):
            pass

    workdir = Path(tempfile.mkdtemp(prefix="posemark-bench-"))
    results: dict[str, list[dict[str, Any]]] = {r: [] for r in readers}
    try:
        extra = {
            "posemark": "-",
            "pycocotools": "-",
            "posemark-write": str(path.with_name(path.stem + ".bench-write.json")),
        }
        if "sleap-io" in readers:
            images = workdir / "images"
            images.mkdir()
            _log("creating zero-byte placeholder images for sleap-io (not timed) ...")
            made = _run_child(["--_placeholders", str(path), str(images)], args.timeout)
            if "error" in made:
                _log(f"placeholder creation failed: {made['error']}")
            extra["sleap-io"] = f"{images}{os.pathsep}{args.sleap_seg}"
        for rep in range(args.repeat):
            for reader in readers:
                _log(f"[{rep + 1}/{args.repeat}] {reader} ...")
                res = _run_child(["--_child", reader, str(path), extra[reader]], args.timeout)
                res.setdefault("reader", reader)
                _log("    " + json.dumps({k: v for k, v in res.items() if k != "reader"}))
                results[reader].append(res)
        out = Path(extra["posemark-write"])
        if out.exists():
            out.unlink()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    report = {
        "machine": machine,
        "file": {"path": str(path), "size_mb": path.stat().st_size / 1e6},
        "repeat": args.repeat,
        "sleap_seg": args.sleap_seg,
        "summary": summarize(results, expect),
        "runs": results,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        render(report)
    summary = report["summary"]
    failed = any(r["errors"] for r in summary["readers"].values())
    return 0 if summary["sanity"]["agree"] and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
