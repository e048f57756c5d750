"""OKS: bit-for-bit parity with pycocotools' computeOks, and the vectorised form vs the scalar."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from posemark.metrics import oks, oks_matrix

COCO_SIGMAS = np.array(
    [.026, .025, .025, .035, .035, .079, .079, .072, .072, .062, .062, .107, .107, .087, .087,
     .089, .089]
)  # fmt: skip
CROWDPOSE_SIGMAS = np.array(
    [.079, .079, .072, .072, .062, .062, .107, .107, .087, .087, .089, .089, .079, .079]
)  # fmt: skip


def _load(path: Path) -> dict[str, Any]:
    with path.open() as f:
        data: dict[str, Any] = json.load(f)
    for ann in data["annotations"]:  # pycocotools needs these; CrowdPose has no area
        ann.setdefault("area", ann["bbox"][2] * ann["bbox"][3])
        ann.setdefault("iscrowd", 0)
    return data


def _as_results(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {k: a[k] for k in ("image_id", "category_id", "keypoints")} | {"score": 1.0}
        for a in data["annotations"]
    ]


def _pycocotools_ious(gt: dict[str, Any], dt: list[dict[str, Any]], sigmas: np.ndarray) -> Any:
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(dt), iouType="keypoints")
        ev.params.kpt_oks_sigmas = sigmas
        ev.evaluate()
    return ev


def _check_every_image(ev: Any, k: int) -> int:
    """Compare oks_matrix with ev.ious for every (image, category); return pairs checked."""
    checked = 0
    for key, ious in ev.ious.items():
        gts, dts = ev._gts[key], ev._dts[key]
        if len(gts) == 0 or len(dts) == 0:
            assert len(ious) == 0
            continue
        order = np.argsort([-d["score"] for d in dts], kind="mergesort")
        dts = [dts[i] for i in order][: ev.params.maxDets[-1]]
        g = np.array([a["keypoints"] for a in gts], dtype=float).reshape(len(gts), k, 3)
        d = np.array([a["keypoints"] for a in dts], dtype=float).reshape(len(dts), k, 3)
        ours = oks_matrix(
            g[..., :2],
            g[..., 2],
            [a["area"] for a in gts],
            d[..., :2],
            ev.params.kpt_oks_sigmas,
            gt_boxes=[a["bbox"] for a in gts],
        )
        assert ours.shape == ious.shape
        assert np.array_equal(ours, ious), f"image {key}: max diff {np.abs(ours - ious).max()}"
        checked += ious.size
    return checked


def test_matches_computeoks_on_coco_predictions(testdata: Path) -> None:
    gt = _load(testdata / "coco/mmpose_coco/test_coco.json")
    with (testdata / "coco/xtcocoapi_examples/example_coco_preds.json").open() as f:
        dt = json.load(f)
    ev = _pycocotools_ious(gt, dt, COCO_SIGMAS)
    assert _check_every_image(ev, 17) == 18 * 1 + 16 * 3 + 20 * 5 + 18 * 5


def test_matches_computeoks_with_gt_as_detections(testdata: Path) -> None:
    """Includes the two GT with no labeled keypoint: the grown-box distance rule."""
    gt = _load(testdata / "coco/mmpose_coco/test_coco.json")
    assert sum(a["num_keypoints"] == 0 for a in gt["annotations"]) == 2
    ev = _pycocotools_ious(gt, _as_results(gt), COCO_SIGMAS)
    assert _check_every_image(ev, 17) == 1 + 9 + 25 + 25


def test_matches_computeoks_on_crowdpose(testdata: Path) -> None:
    gt = _load(testdata / "crowdpose/mmpose_crowdpose/test_crowdpose.json")
    ev = _pycocotools_ious(gt, _as_results(gt), CROWDPOSE_SIGMAS)
    assert _check_every_image(ev, 14) == 9 + 4


def test_identical_points_give_one_and_offset_follows_the_formula() -> None:
    g = np.array([[10.0, 10.0], [20.0, 20.0], [0.0, 0.0]])
    v = np.array([2, 1, 0])
    sig = np.array([0.1, 0.1, 0.1])
    assert oks(g, v, 400.0, g, sig) == 1.0
    moved = g + np.array([[3.0, 4.0], [0.0, 0.0], [99.0, 99.0]])  # unlabeled one is ignored
    expected = (np.exp(-25 / (0.2**2) / (400.0 + np.spacing(1)) / 2) + 1.0) / 2
    assert oks(g, v, 400.0, moved, sig) == pytest.approx(expected, rel=1e-15)


def test_unlabeled_gt_uses_distance_to_the_grown_box() -> None:
    g = np.zeros((2, 2))
    v = np.zeros(2)
    box = [10.0, 10.0, 10.0, 10.0]  # grown box: x and y in [0, 30]
    sig = np.array([0.5, 0.5])
    inside = np.array([[0.0, 0.0], [30.0, 30.0]])
    assert oks(g, v, 100.0, inside, sig, gt_box=box) == 1.0
    outside = np.array([[-3.0, 34.0], [15.0, 15.0]])  # 3 and 4 px outside the grown box
    e = 25 / 1.0 / (100.0 + np.spacing(1)) / 2
    assert oks(g, v, 100.0, outside, sig, gt_box=box) == pytest.approx((np.exp(-e) + 1) / 2)
    with pytest.raises(ValueError, match="gt_box is required"):
        oks(g, v, 100.0, outside, sig)
    with pytest.raises(ValueError, match=r"gt_boxes is required: GT instance\(s\) \[0\]"):
        oks_matrix(g[None], v[None], [100.0], outside[None], sig)


def test_shapes_are_checked_with_expected_and_found() -> None:
    sig = np.full(3, 0.05)
    with pytest.raises(
        ValueError, match=r"dt_points: expected shape \(D, 3, 2\), found \(1, 4, 2\)"
    ):
        oks_matrix(np.zeros((2, 3, 2)), np.ones((2, 3)), [1.0, 1.0], np.zeros((1, 4, 2)), sig)
    with pytest.raises(ValueError, match=r"sigmas: expected 3 values .*found 2"):
        oks(np.zeros((3, 2)), np.ones(3), 1.0, np.zeros((3, 2)), [0.1, 0.1])
    empty = oks_matrix(np.zeros((0, 3, 2)), np.zeros((0, 3)), [], np.zeros((4, 3, 2)), sig)
    assert empty.shape == (4, 0)


@st.composite
def _scene(draw: st.DrawFn) -> dict[str, np.ndarray]:
    k = draw(st.integers(1, 20))
    n_gt = draw(st.integers(1, 6))
    n_dt = draw(st.integers(1, 6))
    coord = st.floats(-500, 1500, allow_nan=False, width=64)
    return {
        "g": draw(hnp.arrays(np.float64, (n_gt, k, 2), elements=coord)),
        "v": draw(hnp.arrays(np.int64, (n_gt, k), elements=st.sampled_from([0, 0, 1, 2]))),
        "area": draw(hnp.arrays(np.float64, n_gt, elements=st.floats(0, 1e5, width=64))),
        "box": draw(hnp.arrays(np.float64, (n_gt, 4), elements=st.floats(0, 800, width=64))),
        "d": draw(hnp.arrays(np.float64, (n_dt, k, 2), elements=coord)),
        "sig": draw(hnp.arrays(np.float64, k, elements=st.floats(0.01, 0.2, width=64))),
    }


@settings(max_examples=200, deadline=None)
@given(_scene())
def test_matrix_equals_scalar_oks_exactly(s: dict[str, np.ndarray]) -> None:
    m = oks_matrix(s["g"], s["v"], s["area"], s["d"], s["sig"], gt_boxes=s["box"])
    for i in range(len(s["d"])):
        for j in range(len(s["g"])):
            one = oks(s["g"][j], s["v"][j], s["area"][j], s["d"][i], s["sig"], gt_box=s["box"][j])
            assert m[i, j] == one
    assert ((m >= 0) & (m <= 1)).all()
