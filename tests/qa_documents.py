"""Annotation documents built from the real COCO sample, for the agreement and gold tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from posemark.schemas import load_builtin

MMPOSE_COCO = Path("coco") / "mmpose_coco" / "test_coco.json"
SIGMAS = np.asarray(load_builtin("coco17").sigmas, dtype=np.float64)


def coco_images(testdata: Path) -> tuple[dict[str, Any], dict[int, list[dict[str, Any]]]]:
    """The COCO file and its annotations per image id."""
    data = json.loads((testdata / MMPOSE_COCO).read_text())
    per_image: dict[int, list[dict[str, Any]]] = {}
    for ann in data["annotations"]:
        per_image.setdefault(ann["image_id"], []).append(ann)
    return data, per_image


def document(anns: list[dict[str, Any]]) -> dict[str, Any]:
    """COCO annotations of one image as an item's annotation document (bbox drawn)."""
    instances = []
    for n, ann in enumerate(anns):
        kp = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
        triples = [[float(x), float(y), int(v)] if v > 0 else [None, None, 0] for x, y, v in kp]
        instances.append(
            {
                "id": f"i{n + 1}",
                "keypoints": triples,
                "bbox": [float(b) for b in ann["bbox"]],
                "bbox_mode": "drawn",
                "source": "human",
                "confirmed": True,
                "track_id": None,
            }
        )
    return {"instances": instances}


def shifted(doc: dict[str, Any], offsets: np.ndarray) -> dict[str, Any]:
    """A copy with every labeled keypoint moved by ``offsets`` (N, K, 2) pixels."""
    out = json.loads(json.dumps(doc))
    for inst, off in zip(out["instances"], offsets, strict=True):
        for triple, (dx, dy) in zip(inst["keypoints"], off, strict=True):
            if triple[2] > 0:
                triple[0] += float(dx)
                triple[1] += float(dy)
    return out


def labeled_count(doc: dict[str, Any]) -> int:
    return sum(1 for inst in doc["instances"] for t in inst["keypoints"] if t[2] > 0)
