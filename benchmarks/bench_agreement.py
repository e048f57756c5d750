"""Consensus of several annotators against the truth, on real ground truth.

Each annotator is simulated from the real annotations of the COCO-style samples in
../shared/testdata (mmpose's COCO, CrowdPose and AI Challenger samples): every labeled
keypoint moves by Gaussian noise of ``sigma`` pixels; with probability ``--gross`` it is
misplaced by a gross error instead (60-120 px in a random direction, e.g. on the wrong
limb); with probability ``--drop`` it is left unlabeled; with probability ``--miss`` the
whole person is left out.

For each noise level the benchmark prints the mean OKS against the truth (qa/gold.score,
the truth as the answer) of

- one annotator (the mean over the simulated annotators),
- posemark's consensus (qa/agreement.consensus: per keypoint the median, majority
  visibility, people a majority drew),
- the peer: the plain mean of the annotators' positions over the same matched groups
  (what a naive merge does; gross errors pull it off),

and the agreement the annotators reach among themselves (mean pairwise OKS), which is
what a project sees without knowing the truth. It also times the agreement and merge
per item.

    .venv/bin/python benchmarks/bench_agreement.py [--annotators 3] [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from posemark.qa.agreement import consensus, group_instances, merge_group, pairwise_agreement
from posemark.qa.gold import score
from posemark.qa.poses import sigmas_of
from posemark.schemas import load_builtin

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata"
SETS = (
    ("coco/mmpose_coco/test_coco.json", "coco17"),
    ("crowdpose/mmpose_crowdpose/test_crowdpose.json", "crowdpose14"),
    ("aic/mmpose_aic/test_aic.json", "aic14"),
)


def documents(path: Path, k: int) -> list[dict[str, Any]]:
    data = json.loads(path.read_text())
    per_image: dict[int, list[dict[str, Any]]] = {}
    for ann in data["annotations"]:
        per_image.setdefault(ann["image_id"], []).append(ann)
    out = []
    for anns in per_image.values():
        instances = []
        for n, ann in enumerate(anns):
            kp = np.asarray(ann["keypoints"], dtype=np.float64).reshape(k, 3)
            if not (kp[:, 2] > 0).any():
                continue
            triples = [[float(x), float(y), int(v)] if v > 0 else [None, None, 0] for x, y, v in kp]
            instances.append(
                {"id": f"i{n + 1}", "keypoints": triples, "bbox": list(map(float, ann["bbox"])),
                 "bbox_mode": "drawn", "source": "human", "confirmed": True, "track_id": None}
            )  # fmt: skip
        out.append({"instances": instances})
    return out


def annotate(truth: dict[str, Any], rng: np.random.Generator, args: argparse.Namespace,
             sigma: float) -> dict[str, Any]:  # fmt: skip
    instances = []
    for inst in truth["instances"]:
        if rng.random() < args.miss:
            continue
        triples = []
        for x, y, v in inst["keypoints"]:
            if v == 0 or rng.random() < args.drop:
                triples.append([None, None, 0])
                continue
            if rng.random() < args.gross:
                angle = rng.uniform(0, 2 * np.pi)
                r = rng.uniform(60, 120)
                triples.append([x + r * np.cos(angle), y + r * np.sin(angle), v])
            else:
                dx, dy = rng.normal(0, sigma, 2)
                triples.append([x + dx, y + dy, v])
        instances.append({**inst, "keypoints": triples})
    return {"instances": instances}


def mean_merge(documents_: dict[int, dict[str, Any]], sigmas: np.ndarray) -> dict[str, Any]:
    """The peer: the same groups, positions averaged instead of the median."""
    n = len(documents_)
    out = []
    for g, group in enumerate(group_instances(documents_, sigmas)):
        if len(group.members) * 2 <= n:
            continue
        merged = merge_group(group, f"i{g + 1}")
        pts = np.stack([p.points for p in group.members.values()])
        with warnings.catch_warnings():  # a keypoint nobody labeled: NaN, not merged
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(pts, axis=0)
        for j, triple in enumerate(merged["keypoints"]):
            if triple[2] > 0:
                triple[0], triple[1] = float(mean[j, 0]), float(mean[j, 1])
        out.append(merged)
    return {"instances": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotators", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--gross", type=float, default=0.05)
    parser.add_argument("--drop", type=float, default=0.05)
    parser.add_argument("--miss", type=float, default=0.05)
    args = parser.parse_args()
    sets = []
    for rel, skeleton in SETS:
        sk = load_builtin(skeleton)
        sets.append((rel, sigmas_of(sk), documents(TESTDATA / rel, sk.num_keypoints)))
    print(
        f"{args.annotators} annotators, {args.repeat} repeats, gross {args.gross}, "
        f"drop {args.drop}, miss {args.miss}; sets: "
        + ", ".join(f"{rel} ({len(d)} images)" for rel, _, d in sets)
    )
    print(f"{'noise px':>8} | {'one annotator':>13} | {'consensus':>9} | {'mean merge':>10} "
          f"| {'agreement':>9}")  # fmt: skip
    timings = []
    for sigma in (2.0, 4.0, 8.0, 16.0):
        single, merged, peer, agree = [], [], [], []
        rng = np.random.default_rng(int(sigma * 100))
        for _ in range(args.repeat):
            for _rel, sigmas, docs in sets:
                for truth in docs:
                    copies = {a: annotate(truth, rng, args, sigma) for a in range(args.annotators)}
                    t0 = time.perf_counter()
                    pairs = pairwise_agreement(copies, sigmas)
                    result = consensus(copies, sigmas)
                    timings.append(time.perf_counter() - t0)
                    single += [score(c, truth, sigmas).mean_oks or 0.0 for c in copies.values()]
                    merged.append(score(result, truth, sigmas).mean_oks or 0.0)
                    peer.append(score(mean_merge(copies, sigmas), truth, sigmas).mean_oks or 0.0)
                    agree += [s for p in pairs for s in p.instance_scores]
        print(
            f"{sigma:>8.0f} | {np.mean(single):>13.3f} | {np.mean(merged):>9.3f} | "
            f"{np.mean(peer):>10.3f} | {np.mean(agree):>9.3f}"
        )
    ms = np.median(timings) * 1000
    print(f"agreement + consensus per item: median {ms:.2f} ms ({len(timings)} items)")


if __name__ == "__main__":
    main()
