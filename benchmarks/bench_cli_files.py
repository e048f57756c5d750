"""Dataset-sized files on the command line: ``posemark stats`` and ``posemark eval``
next to the libraries people would use instead, in one run on one machine.

- stats: ``posemark stats FILE --json`` (the whole command: interpreter, imports, read,
  counts) against ``pycocotools.coco.COCO(FILE)`` (read and index only) on the
  250,000-annotation file of ``make_synthetic_coco.py``. Target: posemark <= 0.33x.
- eval: ``posemark eval --gt GT --dt DT --json`` against pycocotools' and
  faster-coco-eval's ``COCOeval`` (load, evaluate, accumulate, summarize) on
  ``--eval-instances`` ground-truth people (default 100,000, from
  ``make_synthetic_coco.py``) and as many detections (each GT person moved by a few
  pixels with a random score, 10% missed, replaced by people on other images). Targets:
  posemark at least as fast as faster-coco-eval, no more memory, and its ten stats
  bit-identical to pycocotools'.

Every measurement is a fresh process (wall time from the parent, peak RSS from the
child's ``ru_maxrss``), the tools take turns round by round and the table shows
medians, so a busy moment of the machine is shared out.

    .venv/bin/python benchmarks/bench_cli_files.py [--repeat 3] [--only stats|eval]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
MARK = "@@RESULT "


# --------------------------------------------------------------------------- children


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(tool: str, files: list[str]) -> None:
    """Runs one tool in this (fresh) process and prints its result after MARK."""
    import contextlib
    import io

    result: dict[str, Any] = {}
    if tool == "pycocotools-read":
        from pycocotools.coco import COCO  # type: ignore[import-untyped]

        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(files[0])
        result["annotations"] = len(coco.anns)
    elif tool in ("pycocotools-eval", "faster-coco-eval"):
        with contextlib.redirect_stdout(io.StringIO()):
            if tool == "pycocotools-eval":
                from pycocotools.coco import COCO
                from pycocotools.cocoeval import COCOeval  # type: ignore[import-untyped]
            else:
                from faster_coco_eval import COCO  # type: ignore[import-untyped]
                from faster_coco_eval import COCOeval_faster as COCOeval
            gt = COCO(files[0])
            ev = COCOeval(gt, gt.loadRes(files[1]), "keypoints")
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        result["stats"] = [float(s) for s in ev.stats]
    else:  # a posemark command line, as a user types it
        from posemark.cli.main import app

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                app(files, prog_name="posemark")
            except SystemExit as exc:
                if exc.code:
                    raise
        answer = json.loads(out.getvalue())
        if tool == "posemark eval":
            result["stats"] = [float(answer[k]) for k in answer]
        else:
            result["annotations"] = answer["instances"]
    used = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_s"] = round(used.ru_utime + used.ru_stime, 3)
    result["peak_mib"] = round(_peak_mib(), 1)
    print(MARK + json.dumps(result), flush=True)


def _run(tool: str, files: list[str], timeout: float) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: modules compiled once, not per run
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "_child", tool, *files],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{tool} failed: {proc.stderr[-2000:]}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith(MARK))
    return {"seconds": wall, **json.loads(line[len(MARK) :])}


# --------------------------------------------------------------------------- inputs


def _make_inputs(instances: int) -> tuple[Path, Path, Path]:
    """The 250k stats file and the eval GT/detections (made once, kept in data/)."""
    import numpy as np

    DATA.mkdir(exist_ok=True)
    stats_file = DATA / "coco_train_like.json"
    if not stats_file.exists():
        subprocess.run(
            [sys.executable, str(HERE / "make_synthetic_coco.py"), str(stats_file)], check=True
        )
    gt_file = DATA / f"eval_gt_{instances}.json"
    dt_file = DATA / f"eval_dt_{instances}.json"
    if not gt_file.exists():
        images = max(1, instances * 6 // 25)  # about COCO's people per image
        cmd = [sys.executable, str(HERE / "make_synthetic_coco.py"), str(gt_file)]
        cmd += ["--annotations", str(instances), "--images", str(images), "--polygon", "4"]
        subprocess.run(cmd, check=True)
    if not dt_file.exists():
        gt = json.loads(gt_file.read_text())
        rng = np.random.default_rng(7)
        image_ids = [img["id"] for img in gt["images"]]
        results = []
        for ann in gt["annotations"]:
            kps = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
            missed = rng.random() < 0.1
            image = int(rng.choice(image_ids)) if missed else ann["image_id"]
            xy = kps[:, :2] + rng.normal(0, 6, size=(len(kps), 2))
            pts = np.concatenate([np.round(xy, 2), np.ones((len(kps), 1))], axis=1)
            results.append(
                {
                    "image_id": image,
                    "category_id": 1,
                    "keypoints": pts.reshape(-1).tolist(),
                    "score": round(float(rng.random()), 4),
                }
            )
        dt_file.write_text(json.dumps(results))
    return stats_file, gt_file, dt_file


# --------------------------------------------------------------------------- main


def _rounds(
    tools: dict[str, list[str]], repeat: int, timeout: float
) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in tools}
    for r in range(repeat):
        for tool, files in tools.items():
            print(f"  round {r + 1}: {tool}", file=sys.stderr, flush=True)
            runs[tool].append(_run(tool, files, timeout))
    return runs


def _table(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float]]:
    med = {
        t: {
            "seconds": statistics.median(r["seconds"] for r in rs),
            "cpu_s": statistics.median(r["cpu_s"] for r in rs),
            "peak_mib": statistics.median(r["peak_mib"] for r in rs),
        }
        for t, rs in runs.items()
    }
    print(f"{'tool':<22} {'wall s':>9} {'CPU s':>9} {'peak MiB':>9}")
    for t, m in med.items():
        print(f"{t:<22} {m['seconds']:>9.2f} {m['cpu_s']:>9.2f} {m['peak_mib']:>9.0f}")
    return med


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "_child":
        _child(sys.argv[2], sys.argv[3:])
        return
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=("stats", "eval"))
    ap.add_argument("--eval-instances", type=int, default=100_000)
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    stats_file, gt_file, dt_file = _make_inputs(args.eval_instances)
    ok = True
    if args.only in (None, "stats"):
        print(f"stats: {stats_file.name} ({stats_file.stat().st_size / 1e6:.0f} MB)")
        runs = _rounds(
            {
                "posemark stats": ["stats", str(stats_file), "--json"],
                "pycocotools-read": [str(stats_file)],
            },
            args.repeat,
            args.timeout,
        )
        runs = {
            "posemark stats": runs["posemark stats"],
            "pycocotools COCO()": runs["pycocotools-read"],
        }
        med = _table(runs)
        counts = {r["annotations"] for rs in runs.values() for r in rs}
        ratio = med["posemark stats"]["seconds"] / med["pycocotools COCO()"]["seconds"]
        verdict = "PASS" if ratio <= 0.33 and len(counts) == 1 else "MISS"
        ok &= verdict == "PASS"
        print(f"{verdict}  posemark stats / pycocotools COCO() = {ratio:.2f} (target <= 0.33)")
    if args.only in (None, "eval"):
        print(f"eval: {args.eval_instances:,} GT x {args.eval_instances:,} detections")
        files = ["--gt", str(gt_file), "--dt", str(dt_file), "--json"]
        runs = _rounds(
            {
                "posemark eval": ["eval", *files],
                "pycocotools-eval": [str(gt_file), str(dt_file)],
                "faster-coco-eval": [str(gt_file), str(dt_file)],
            },
            args.repeat,
            args.timeout,
        )
        med = _table(runs)
        ours, peer = med["posemark eval"], med["faster-coco-eval"]
        reference = runs["pycocotools-eval"][0]["stats"]
        same = all(r["stats"] == reference for r in runs["posemark eval"])
        peer_same = all(r["stats"] == reference for r in runs["faster-coco-eval"])
        print(f"stats bit-identical to pycocotools: posemark {same}, faster-coco-eval {peer_same}")
        print(f"AP {reference[0]!r}")
        faster = ours["seconds"] <= peer["seconds"]
        lighter = ours["peak_mib"] <= peer["peak_mib"]
        verdict = "PASS" if faster and lighter and same else "MISS"
        ok &= verdict == "PASS"
        print(
            f"{verdict}  posemark eval {ours['seconds']:.2f} s / {ours['peak_mib']:.0f} MiB vs "
            f"faster-coco-eval {peer['seconds']:.2f} s / {peer['peak_mib']:.0f} MiB"
        )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
