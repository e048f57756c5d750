"""Generate a synthetic COCO person-keypoints file shaped like COCO train2017.

Defaults: 250,000 annotations over 60,000 images (~160 MB), each with 17 integer
keypoints (visibility mix like COCO: ~1/3 unlabeled), a 2-decimal bbox and area, and
one 2-decimal polygon of 20 vertices. Deterministic (seeded) so runs are comparable.

    python benchmarks/make_synthetic_coco.py OUT.json [--annotations N] [--images M]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import msgspec
import numpy as np

COCO_NAMES = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
]  # fmt: skip
COCO_SKELETON = [
    [16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8],
    [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7],
]  # fmt: skip


def generate(out: Path, n_ann: int, n_img: int, keypoints: int = 17, polygon: int = 20) -> None:
    rng = np.random.default_rng(2017)
    enc = msgspec.json.Encoder()
    batch = 10_000
    with open(out, "wb") as fh:
        fh.write(b'{"info":{"description":"posemark synthetic COCO-like benchmark","year":2026},')
        fh.write(b'"licenses":[{"id":1,"name":"CC BY 4.0","url":""}],"images":[')
        for start in range(0, n_img, batch):
            ids = np.arange(start, min(start + batch, n_img)) + 1
            recs = [
                {
                    "id": int(i),
                    "file_name": f"{int(i):012d}.jpg",
                    "width": 640,
                    "height": 480,
                    "license": 1,
                }
                for i in ids
            ]
            fh.write((b"," if start else b"") + enc.encode(recs)[1:-1])
        fh.write(b'],"annotations":[')
        for start in range(0, n_ann, batch):
            n = min(batch, n_ann - start)
            xy = rng.integers(0, 640, size=(n, keypoints, 2))
            vis = rng.choice([0, 1, 2], size=(n, keypoints), p=[0.33, 0.07, 0.60])
            xy[vis == 0] = 0
            kps = np.concatenate([xy, vis[..., None]], axis=2).reshape(n, -1).tolist()
            box = np.round(rng.uniform(0, 300, size=(n, 4)), 2).tolist()
            poly = np.round(rng.uniform(0, 640, size=(n, polygon * 2)), 2).tolist()
            area = np.round(rng.uniform(100, 90000, size=n), 2).tolist()
            nk = (vis > 0).sum(axis=1).tolist()
            img = rng.integers(1, n_img + 1, size=n).tolist()
            recs = [
                {
                    "segmentation": [poly[j]],
                    "num_keypoints": nk[j],
                    "area": area[j],
                    "iscrowd": 0,
                    "keypoints": kps[j],
                    "image_id": img[j],
                    "bbox": box[j],
                    "category_id": 1,
                    "id": start + j + 1,
                }
                for j in range(n)
            ]
            fh.write((b"," if start else b"") + enc.encode(recs)[1:-1])
        names = COCO_NAMES[:keypoints] if keypoints <= 17 else [f"kp{i}" for i in range(keypoints)]
        cat = {
            "supercategory": "person", "id": 1, "name": "person", "keypoints": names,
            "skeleton": COCO_SKELETON if keypoints == 17 else [],
        }  # fmt: skip
        fh.write(b'],"categories":[' + enc.encode(cat) + b"]}")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("out", type=Path)
    ap.add_argument("--annotations", type=int, default=250_000)
    ap.add_argument("--images", type=int, default=60_000)
    ap.add_argument("--keypoints", type=int, default=17)
    ap.add_argument("--polygon", type=int, default=20, help="vertices per segmentation polygon")
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    generate(args.out, args.annotations, args.images, args.keypoints, args.polygon)
    print(f"{args.out}: {args.out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
