"""Benchmark the automated QA checks (``posemark.qa``) by injecting known errors.

For each error type the harness runs ``--trials`` trials (seeded RNG; trials spread over
the eligible instances of all test sets, each candidate used once before any repeats).
A trial deep-copies one ground-truth dataset, injects ONE error into ONE instance (two
for the cross-person swap), runs ``posemark.qa.run_checks`` on the whole copy and counts

* lenient detection -- a new finding names an injected annotation id;
* strict detection  -- for keypoint-level errors, a new finding names an injected
  annotation id AND one of the keypoints that were changed (instance-level errors:
  strict = lenient).

"New" means the same (annotation, keypoint, check) finding is not raised on the clean
dataset, so findings the ground truth already had never count as detections. Findings of
severity ``info`` (harmless things ground truth earns routinely) count neither as
detections nor as false positives. The checks learn their body prior from the dataset
they are given, so every trial refits it on the edited copy, as in real use.

Error types (an instance is eligible when it is not a crowd region, has a positive bbox
area and at least ``--min-labeled`` labeled keypoints, v > 0):

* ``limb_inversion``     swap the two keypoints of one limb flip pair (elbows, wrists,
  knees, ankles; both labeled) -- points and visibility;
* ``body_inversion``     apply the skeleton's flip permutation to all keypoints;
* ``swap_other_person``  swap one keypoint's coordinates with another person's same
  keypoint in the same image (images with >= 2 eligible people; both labeled);
* ``jitter``             gaussian noise, sigma = 5% of person scale sqrt(bbox area), on
  every labeled keypoint (kept inside the image) -- expected to be hard;
* ``gross_displacement`` move one labeled keypoint by 50% of person scale in a random
  direction, staying inside the image;
* ``missing_keypoints``  set 30% of the labeled keypoints to v=0 at (0, 0);
* ``vis_labeled_origin`` wrong visibility: one keypoint set to v=2 at (0, 0);
* ``vis_hidden_coords``  wrong visibility: one labeled keypoint set to v=0, coordinates kept.

``num_keypoints`` is recomputed after every injection so the count field never gives the
error away. Skeletons without flip pairs (Halpe's test file names its keypoints kp1..kp136)
are not eligible for the inversion types.

False positives are reported twice: the share of instances in the CLEAN datasets that get
any finding, and, across the trials, the share of untouched instances (all but the
injected one/two) that get any finding.

Image evidence (``--model``, default "default"; "none": keypoints only): the pose model
runs ONCE per (image, annotation box) of the clean data (``services.qa_model``; sets
that share images and boxes share the runs) and every trial passes the same
predictions to ``run_checks(..., poses=...)``: an injection never changes an image or a
box. Recall is also split by whether the model gave the injected person any keypoint
in its skeleton ("with image"): coco's 000000001000.jpg is not in testdata,
mpii_json's images are 5 x 5 placeholders (refused: their size contradicts the file),
Halpe names its keypoints kp1..kp136 (nothing maps).

Clean findings can be printed with ``--show-flagged``; a clean instance flagged because
its ground truth is wrong (verified on the image) goes into ``AUDITED_GT_ERRORS`` and the
clean rate is reported with and without them (none so far: the two earlier suspects,
COCO 198196 and PoseTrack 1012834000010, are a man looking over his shoulder and a
head top estimated above the frame of a person the frame cuts).

Peer baseline, same trials: a naive check that flags every instance whose bbox does not
contain all its labeled keypoints (naming the keypoints outside it).

Targets: recall >= 0.9 for the inversions, the cross-person swap and
gross displacement; <= 2% of clean instances flagged.

    python benchmarks/bench_qa.py [--trials N] [--seed S] [--min-labeled M] [--json]
                                  [--model NAME|none] [--show-flagged]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from qa_inject import (
    CLEAN_FLAG_TARGET,
    CROWDED_SETS,
    ERROR_TYPES,
    IMAGES,
    INJECTORS,
    KEYPOINT_LEVEL,
    RECALL_TARGET,
    TARGETED,
    TESTDATA,
    Hit,
    Source,
    _partners,
    load_sources,
    mark_eligible,
)


def candidates(sources: list[Source], error: str) -> list[tuple[int, int]]:
    out = []
    for si, src in enumerate(sources):
        for row in src.eligible:
            if error in ("limb_inversion", "body_inversion") and not src.flips[row]:
                continue
            if error == "swap_other_person" and not _partners(src, row):
                continue
            out.append((si, row))
    return out


# ----------------------------------------------------------------------------- checkers


def qa_hits(run_checks: Callable[..., Any], ds: Any, poses: dict[int, Any]) -> list[Hit]:
    """Findings a user must look at: severity info (data-earned, harmless) counts
    neither as a detection nor as a false positive."""
    return [
        (int(f.annotation_id), f.keypoint, str(f.check), str(f.severity))
        for f in run_checks(ds, poses=poses or None)
        if f.annotation_id is not None and f.severity != "info"
    ]


def model_poses(
    sources: list[Source], root: Path, model: str, options: dict[str, Any] | None = None
) -> float:
    """Fill each source's ``poses``: the model runs once per (image, box) of the clean
    data (sets sharing images share the runs); every trial reuses them, since an
    injection never changes an image or a box. Returns the seconds spent."""
    from posemark.assist.registry import get_model
    from posemark.services.qa_model import dataset_poses

    pose_model = get_model(model, **(options or {}))
    cache: dict[Any, Any] = {}
    t0 = time.perf_counter()
    for src in sources:
        folder = IMAGES.get(src.name)
        if folder is not None:
            src.poses = dataset_poses(src.dataset, root / folder, pose_model.predict, cache)
    return time.perf_counter() - t0


# ground-truth errors confirmed by looking at the image; the clean flag rate is reported
# with them and, as a separate row, without them: (set, annotation id, what is wrong)
AUDITED_GT_ERRORS: tuple[tuple[str, int, str], ...] = ()


def naive_hits(ds: Any) -> list[Hit]:
    """Peer baseline: flag instances whose bbox does not contain all labeled keypoints."""
    inst = ds.instances
    cats = {c.id: c.skeleton.keypoints for c in ds.categories}
    x0, y0 = inst.bbox[:, 0:1], inst.bbox[:, 1:2]
    x1, y1 = x0 + inst.bbox[:, 2:3], y0 + inst.bbox[:, 3:4]
    px, py = inst.points[..., 0], inst.points[..., 1]
    out = (inst.visibility > 0) & ((px < x0) | (px > x1) | (py < y0) | (py > y1))
    hits: list[Hit] = []
    for r, j in zip(*np.nonzero(out), strict=True):
        names = cats[int(inst.category_ids[r])]
        hits.append((int(inst.ids[r]), names[j] if j < len(names) else None, "naive_bbox", "error"))
    return hits


def score(hits: list[Hit], ids: list[int], kps: set[str] | None) -> tuple[bool, bool]:
    target = set(ids)
    lenient = any(h[0] in target for h in hits)
    strict = lenient if kps is None else any(h[0] in target and h[1] in kps for h in hits)
    return lenient, strict


# ----------------------------------------------------------------------------- run


@dataclass
class Tally:
    trials: int = 0
    redrawn: int = 0
    candidates: int = 0
    qa_lenient: int = 0
    qa_strict: int = 0
    naive_lenient: int = 0
    naive_strict: int = 0
    untouched: int = 0
    qa_fp: int = 0
    naive_fp: int = 0
    checks: Counter[str] = field(default_factory=Counter)  # trials each check named the target
    sources: Counter[str] = field(default_factory=Counter)
    sources_hit: Counter[str] = field(default_factory=Counter)  # lenient detections per set
    # trials / lenient detections, split by whether the model saw the injected person
    image: Counter[str] = field(default_factory=Counter)
    image_hit: Counter[str] = field(default_factory=Counter)

    def rate(self, n: int) -> float | None:
        return n / self.trials if self.trials else None


def run_trials(
    sources: list[Source],
    run_checks: Callable[..., Any],
    trials: int,
    rng: np.random.Generator,
    errors: tuple[str, ...] = ERROR_TYPES,
) -> tuple[dict[str, Tally], float, int]:
    result: dict[str, Tally] = {}
    qa_seconds, qa_calls = 0.0, 0
    for error in errors:
        tally = result[error] = Tally()
        cands = candidates(sources, error)
        tally.candidates = len(cands)
        order: list[int] = []
        attempts = 0
        while cands and tally.trials < trials and attempts < trials * 5:
            attempts += 1
            if not order:
                order = [int(i) for i in rng.permutation(len(cands))]
            si, row = cands[order.pop()]
            src = sources[si]
            ds = copy.deepcopy(src.dataset)
            injected = INJECTORS[error](ds, src, row, rng)
            if injected is None:
                tally.redrawn += 1
                continue
            ids, kps = injected
            t0 = time.perf_counter()
            hits = qa_hits(run_checks, ds, src.poses)
            qa_seconds += time.perf_counter() - t0
            qa_calls += 1
            nhits = naive_hits(ds)
            tally.trials += 1
            tally.sources[src.name] += 1
            # detections count only NEW findings (not raised on the clean dataset)
            new = [h for h in hits if h not in src.clean_qa]
            nnew = [h for h in nhits if h not in src.clean_naive]
            lenient, strict = score(new, ids, kps)
            tally.qa_lenient += lenient
            tally.sources_hit[src.name] += lenient
            seen = "with image" if src.has_image(ids[0]) else "without image"
            tally.image[seen] += 1
            tally.image_hit[seen] += lenient
            tally.qa_strict += strict
            nl, ns = score(nnew, ids, kps)
            tally.naive_lenient += nl
            tally.naive_strict += ns
            target = set(ids)
            tally.checks.update({h[2] for h in new if h[0] in target})
            others = [int(i) for i in ds.instances.ids if int(i) not in target]
            flagged = {h[0] for h in hits}
            nflagged = {h[0] for h in nhits}
            tally.untouched += len(others)
            tally.qa_fp += sum(1 for i in others if i in flagged)
            tally.naive_fp += sum(1 for i in others if i in nflagged)
    return result, qa_seconds, qa_calls


def clean_rates(sources: list[Source], run_checks: Callable[..., Any]) -> dict[str, dict[str, Any]]:
    """Share of instances of the untouched test sets that get any finding."""
    out: dict[str, dict[str, Any]] = {}
    tot = Counter[str]()
    for src in sources:
        ds = src.dataset
        ids = [int(i) for i in ds.instances.ids]
        elig = {int(ds.instances.ids[r]) for r in src.eligible}
        hits = qa_hits(run_checks, ds, src.poses)
        nhits = naive_hits(ds)
        src.clean_qa, src.clean_naive = set(hits), set(nhits)
        flagged = {h[0] for h in hits}
        eflagged = {h[0] for h in hits if h[3] == "error"}
        nflagged = {h[0] for h in nhits}
        row = {
            "instances": len(ids),
            "flagged": sum(i in flagged for i in ids),
            "error_flagged": sum(i in eflagged for i in ids),
            "eligible": len(elig),
            "eligible_flagged": len(elig & flagged),
            "naive_flagged": sum(i in nflagged for i in ids),
            "checks": dict(Counter(h[2] for h in hits)),
            "findings": [
                {"annotation_id": h[0], "keypoint": h[1], "check": h[2], "severity": h[3]}
                for h in hits
            ],
            "messages": [
                f"{f.annotation_id} {f.keypoint or '-'} {f.check} {f.severity}: {f.message}"
                for f in run_checks(ds, poses=src.poses or None)
                if f.severity != "info"
            ],
            "audited_flagged": sorted(
                i for s, i, _ in AUDITED_GT_ERRORS if s == src.name and i in flagged
            ),
        }
        out[src.name] = row
        for key in (
            "instances",
            "flagged",
            "error_flagged",
            "eligible",
            "eligible_flagged",
            "naive_flagged",
        ):
            tot[key] += row[key]
        tot["audited_flagged"] += len(row["audited_flagged"])
    out["ALL"] = dict(tot)
    return out


# ----------------------------------------------------------------------------- report


def machine_facts() -> dict[str, Any]:
    def ver(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "n/a"

    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or "n/a",
        "cpus": os.cpu_count(),
        "numpy": ver("numpy"),
        "posemark": ver("posemark"),
    }


def _pct(x: float | None) -> str:
    return "   n/a" if x is None else f"{100 * x:5.1f}%"


def _verdict(x: float | None, ok: Callable[[float], bool]) -> str:
    return "n/a" if x is None else ("PASS" if ok(x) else "MISS")


def build_report(
    args: argparse.Namespace,
    sources: list[Source],
    skipped: list[str],
    tallies: dict[str, Tally],
    clean: dict[str, dict[str, Any]],
    qa_seconds: float,
    qa_calls: int,
    wall: float,
    model_seconds: float,
) -> dict[str, Any]:
    errors = {}
    for name, t in tallies.items():
        lenient, strict = t.rate(t.qa_lenient), t.rate(t.qa_strict)
        target = RECALL_TARGET if name in TARGETED else None
        errors[name] = {
            "level": "keypoint" if name in KEYPOINT_LEVEL else "instance",
            "candidates": t.candidates,
            "trials": t.trials,
            "redrawn": t.redrawn,
            "by_set": {
                k: {"trials": v, "recall_lenient": t.sources_hit[k] / v}
                for k, v in t.sources.items()
            },
            "by_image": {
                k: {"trials": t.image[k], "recall_lenient": t.image_hit[k] / t.image[k]}
                for k in ("with image", "without image")
                if t.image[k]
            },
            "recall_lenient": lenient,
            "recall_strict": strict,
            "naive_recall_lenient": t.rate(t.naive_lenient),
            "naive_recall_strict": t.rate(t.naive_strict),
            "checks_naming_target": dict(t.checks.most_common()),
            "target": target,
            "verdict_lenient": _verdict(lenient, lambda x: x >= RECALL_TARGET) if target else "-",
            "verdict_strict": _verdict(strict, lambda x: x >= RECALL_TARGET) if target else "-",
        }
    untouched = sum(t.untouched for t in tallies.values())
    qa_fp = sum(t.qa_fp for t in tallies.values())
    naive_fp = sum(t.naive_fp for t in tallies.values())
    c = clean["ALL"]
    clean_rate = c["flagged"] / c["instances"] if c["instances"] else None
    n_audited = c.get("audited_flagged", 0)
    audited_rate = (
        (c["flagged"] - n_audited) / (c["instances"] - n_audited) if c["instances"] else None
    )
    clean_elig = c["eligible_flagged"] / c["eligible"] if c["eligible"] else None
    trial_rate = qa_fp / untouched if untouched else None
    return {
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "machine": machine_facts(),
        "settings": {
            "trials": args.trials,
            "seed": args.seed,
            "min_labeled": args.min_labeled,
            "model": args.model,
            "options": args.options,
            "sets": args.sets,
            "testdata": str(args.testdata),
        },
        "sets": {
            s.name: {"instances": len(s.dataset.instances), "eligible": len(s.eligible)}
            for s in sources
        },
        "skipped_sets": skipped,
        "errors": errors,
        "false_positives": {
            "clean_instances": c["instances"],
            "clean_flagged": c["flagged"],
            "clean_flag_rate": clean_rate,
            "audited_gt_errors": [
                {"set": s, "annotation_id": i, "why": why} for s, i, why in AUDITED_GT_ERRORS
            ],
            "clean_audited_flagged": n_audited,
            "clean_flag_rate_excl_audited": audited_rate,
            "verdict_clean_excl_audited": _verdict(audited_rate, lambda x: x <= CLEAN_FLAG_TARGET),
            "clean_eligible_flag_rate": clean_elig,
            "clean_error_flag_rate": c["error_flagged"] / c["instances"]
            if c["instances"]
            else None,
            "clean_naive_flag_rate": c["naive_flagged"] / c["instances"]
            if c["instances"]
            else None,
            "trial_untouched_instances": untouched,
            "trial_untouched_flag_rate": trial_rate,
            "trial_untouched_naive_flag_rate": naive_fp / untouched if untouched else None,
            "target": CLEAN_FLAG_TARGET,
            "verdict_clean": _verdict(clean_rate, lambda x: x <= CLEAN_FLAG_TARGET),
            "verdict_trials": _verdict(trial_rate, lambda x: x <= CLEAN_FLAG_TARGET),
            "by_set": {k: v for k, v in clean.items() if k != "ALL"},
        },
        "timing": {
            "run_checks_calls": qa_calls,
            "run_checks_seconds": qa_seconds,
            "run_checks_ms_per_call": 1000 * qa_seconds / qa_calls if qa_calls else None,
            "wall_seconds": wall,
            "model_seconds": model_seconds,
        },
    }


def print_report(rep: dict[str, Any], show_flagged: bool = False) -> None:
    m = rep["machine"]
    print(f"command : {rep['command']}")
    print(
        f"machine : {m['platform']} | {m['machine']} | {m['cpus']} CPUs | Python {m['python']}"
        f" | numpy {m['numpy']} | posemark {m['posemark']}"
    )
    st = rep["settings"]
    print(
        f"settings: trials/type={st['trials']} seed={st['seed']} "
        f"min_labeled={st['min_labeled']} model={st['model']} testdata={st['testdata']}"
    )
    sets = ", ".join(
        f"{k} {v['instances']} inst/{v['eligible']} eligible" for k, v in rep["sets"].items()
    )
    print(f"sets    : {sets}")
    for s in rep["skipped_sets"]:
        print(f"skipped : {s}")
    print()
    hdr = (
        f"{'error type':<20} {'level':<8} {'trials':>6}  {'recall':>7} {'strict':>7}"
        f"  {'target':>6} {'lenient':>7} {'strict':>6}  {'naive':>7} {'n.strict':>8}"
    )
    print(hdr)
    print("-" * len(hdr))
    for name, e in rep["errors"].items():
        target = f">={e['target']:.2f}" if e["target"] else "-"
        print(
            f"{name:<20} {e['level']:<8} {e['trials']:>6}  {_pct(e['recall_lenient']):>7}"
            f" {_pct(e['recall_strict']):>7}  {target:>6} {e['verdict_lenient']:>7}"
            f" {e['verdict_strict']:>6}  {_pct(e['naive_recall_lenient']):>7}"
            f" {_pct(e['naive_recall_strict']):>8}"
        )
    print()
    print("checks naming the injected annotation (trials):")
    for name, e in rep["errors"].items():
        fired = ", ".join(f"{k} {v}" for k, v in e["checks_naming_target"].items()) or "none"
        print(f"  {name:<20} {fired}")
    print("lenient recall by test set:")
    for name, e in rep["errors"].items():
        per = ", ".join(
            f"{k} {_pct(v['recall_lenient']).strip()} of {v['trials']}"
            for k, v in e["by_set"].items()
        )
        print(f"  {name:<20} {per or 'no eligible instance'}")
    print("lenient recall, injected person seen by the model or not:")
    for name, e in rep["errors"].items():
        per = ", ".join(
            f"{k} {_pct(v['recall_lenient']).strip()} of {v['trials']}"
            for k, v in e["by_image"].items()
        )
        print(f"  {name:<20} {per or '-'}")
    fp = rep["false_positives"]
    print()
    print(f"{'false positives':<44} {'posemark.qa':>11} {'naive':>7}  {'target':>6} verdict")
    print(
        f"{'clean sets: instances with any finding':<44}"
        f" {_pct(fp['clean_flag_rate']):>11} {_pct(fp['clean_naive_flag_rate']):>7}"
        f"  {'<=2%':>6} {fp['verdict_clean']}"
        f"   ({fp['clean_flagged']}/{fp['clean_instances']})"
    )
    n_aud = len(fp["audited_gt_errors"])
    print(
        f"{f'  excluding {n_aud} audited GT errors':<44}"
        f" {_pct(fp['clean_flag_rate_excl_audited']):>11} {'':>7}  {'<=2%':>6}"
        f" {fp['verdict_clean_excl_audited']}"
        f"   ({fp['clean_flagged'] - fp['clean_audited_flagged']}"
        f"/{fp['clean_instances'] - fp['clean_audited_flagged']})"
    )
    for a in fp["audited_gt_errors"]:
        print(f"{'':<6}{a['set']} {a['annotation_id']}: {a['why']}")
    print(f"{'  eligible instances only':<44} {_pct(fp['clean_eligible_flag_rate']):>11}")
    print(f"{'  any error-severity finding':<44} {_pct(fp['clean_error_flag_rate']):>11}")
    print(
        f"{'trials: untouched instances flagged':<44}"
        f" {_pct(fp['trial_untouched_flag_rate']):>11}"
        f" {_pct(fp['trial_untouched_naive_flag_rate']):>7}"
        f"  {'<=2%':>6} {fp['verdict_trials']}   (n={fp['trial_untouched_instances']})"
    )
    print("clean-set findings by set:")
    for name, row in fp["by_set"].items():
        checks = ", ".join(f"{k} {v}" for k, v in row["checks"].items()) or "none"
        print(f"  {name:<12} {row['flagged']}/{row['instances']} flagged; {checks}")
        if show_flagged:
            for line in row["messages"]:
                print(f"      {line}")
    t = rep["timing"]
    print()
    ms = t["run_checks_ms_per_call"]
    print(
        f"timing  : {t['run_checks_calls']} run_checks calls, {t['run_checks_seconds']:.2f} s"
        f" ({'n/a' if ms is None else f'{ms:.2f} ms'} per call); model (once per person)"
        f" {t['model_seconds']:.1f} s; wall {t['wall_seconds']:.1f} s"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=200, help="trials per error type (200)")
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--min-labeled", type=int, default=6, help="labeled keypoints for eligibility")
    ap.add_argument("--testdata", type=Path, default=TESTDATA)
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument(
        "--model",
        default="default",
        help="pose model giving image evidence (posemark.assist name); 'none': keypoints only",
    )
    ap.add_argument(
        "--sets",
        default="",
        help="comma-separated test sets (default: all); 'crowded': crowdpose,posetrack18,coco",
    )
    ap.add_argument(
        "--errors",
        default="",
        help=f"comma-separated error types (default: all of {', '.join(ERROR_TYPES)})",
    )
    ap.add_argument(
        "--options",
        default="",
        help="pose model options as JSON, e.g. '{\"flip\": true}'",
    )
    ap.add_argument(
        "--show-flagged", action="store_true", help="print every clean finding with its message"
    )
    args = ap.parse_args(argv)

    try:
        from posemark.qa import run_checks
    except ImportError as exc:
        print(f"posemark.qa is not importable: {exc}", file=sys.stderr)
        return 2

    start = time.perf_counter()
    sources, skipped = load_sources(args.testdata)
    if args.sets:
        wanted = CROWDED_SETS if args.sets == "crowded" else tuple(args.sets.split(","))
        sources = [s for s in sources if s.name in wanted]
    if not sources:
        print("no test set could be read:\n  " + "\n  ".join(skipped), file=sys.stderr)
        return 2
    for src in sources:
        mark_eligible(src, args.min_labeled)
    model_seconds = (
        0.0
        if args.model == "none"
        else model_poses(
            sources, args.testdata, args.model, json.loads(args.options) if args.options else {}
        )
    )
    clean = clean_rates(sources, run_checks)
    rng = np.random.default_rng(args.seed)
    errors = tuple(args.errors.split(",")) if args.errors else ERROR_TYPES
    unknown = set(errors) - set(ERROR_TYPES)
    if unknown:
        print(f"--errors: unknown error type(s) {sorted(unknown)}", file=sys.stderr)
        return 2
    tallies, qa_seconds, qa_calls = run_trials(sources, run_checks, args.trials, rng, errors)
    wall = time.perf_counter() - start
    rep = build_report(
        args, sources, skipped, tallies, clean, qa_seconds, qa_calls, wall, model_seconds
    )
    if args.json:
        print(json.dumps(rep, indent=2, default=str))
    else:
        print_report(rep, args.show_flagged)
    return 0


if __name__ == "__main__":
    sys.exit(main())
