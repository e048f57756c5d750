"""Conversion matrix: COCO -> every format that can carry a COCO-17 person -> COCO.

What each format keeps is compared exactly (within its number precision); what it
cannot keep must be announced by its ``losses()`` with the right count. MPII only
carries its own 16-keypoint skeleton, so it is checked on MPII data in both directions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posemark import formats
from posemark.model import Dataset

# format -> (output name, coordinate tolerance in pixels, keeps occluded as its own state)
TARGETS = {
    "coco": ("out.json", 1e-9, True),
    "cvat": ("out.xml", 0.006, True),
    "yolo": ("yolo_out", 1e-3, True),
    "labelstudio": ("out.labelstudio.json", 1e-6, False),
    "dlc": ("CollectedData_posemark.csv", 1e-6, False),
    "sleap": ("out.slp", 1e-4, False),
}


def people(dataset: Dataset) -> dict[int, list[np.ndarray]]:
    """Per frame (in frame order): the (K, 3) arrays of people with a labeled keypoint,
    in a canonical order, unlabeled coordinates zeroed."""
    t = dataset.instances
    out: dict[int, list[np.ndarray]] = {}
    order = {int(fid): i for i, fid in enumerate(dataset.images.ids)}
    for row in range(len(t)):
        vis = t.visibility[row].astype(float)
        if not (vis > 0).any():
            continue
        pts = np.where(vis[:, None] > 0, t.points[row], 0.0)
        out.setdefault(order[int(t.image_ids[row])], []).append(np.column_stack([pts, vis]))
    return {f: sorted(arrs, key=lambda a: tuple(a[:, :2].ravel())) for f, arrs in out.items()}


@pytest.fixture(scope="module")
def source(testdata: Path) -> Dataset:
    return formats.read(testdata / "coco/mmpose_coco/test_coco.json", on_warning=lambda p: None)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_coco_to_format_and_back(
    source: Dataset, testdata: Path, tmp_path: Path, name: str
) -> None:
    out_name, tolerance, keeps_occluded = TARGETS[name]
    spec = formats.get_format(name)
    target = tmp_path / out_name
    if name == "yolo":  # YOLO reads image sizes from the images: copy them along
        from posemark.formats.yolo import write_yolo

        write_yolo(source, target, media_root=testdata / "coco/mmpose_coco")
    else:
        spec.write(source, target)
    back = spec.read(target, on_warning=lambda p: None)
    assert formats.get_format("coco").read is not None
    want, got = people(source), people(back)
    assert sorted(want) == sorted(got), f"{name}: frames with people differ"
    occluded = 0
    for frame, arrays in want.items():
        assert len(arrays) == len(got[frame]), f"{name}: people in frame {frame}"
        for a, b in zip(arrays, got[frame], strict=True):
            np.testing.assert_allclose(b[:, :2], a[:, :2], atol=tolerance, err_msg=name)
            if keeps_occluded:
                np.testing.assert_array_equal(b[:, 2], a[:, 2], err_msg=name)
            else:
                np.testing.assert_array_equal(b[:, 2] > 0, a[:, 2] > 0, err_msg=name)
                occluded += int((a[:, 2] == 1).sum())
    if not keeps_occluded:
        assert occluded == 17
        assert spec.losses is not None
        assert any("17" in m and "occluded" in m for m in spec.losses(source)), spec.losses(source)
    # and the round-tripped data is still valid COCO
    formats.get_format("coco").write(back, tmp_path / "again.json")
    assert formats.read(tmp_path / "again.json", on_warning=lambda p: None) is not None


@pytest.mark.parametrize("name", ["mpii-json", "mpii-mat"])
def test_mpii_to_coco_and_back(testdata: Path, tmp_path: Path, name: str) -> None:
    src = {
        "mpii-json": testdata / "mpii/datumaro_mpii_json/mpii_annotations.json",
        "mpii-mat": testdata / "mpii/datumaro_mpii_mat/mpii_human_pose_v1_u12_1.mat",
    }[name]
    spec = formats.get_format(name)
    original = spec.read(src, on_warning=lambda p: None)
    formats.get_format("coco").write(original, tmp_path / "as_coco.json")
    via_coco = formats.read(tmp_path / "as_coco.json", on_warning=lambda p: None)
    # COCO does not carry which MPII JSON variant the data came from: say it again
    via_coco.extras.update({k: v for k, v in original.extras.items() if k == "mpii_variant"})
    spec.write(via_coco, tmp_path / ("back" + spec.extensions[0]))
    back = spec.read(tmp_path / ("back" + spec.extensions[0]), on_warning=lambda p: None)
    want, got = people(original), people(back)
    assert sorted(want) == sorted(got)
    for frame, arrays in want.items():
        for a, b in zip(arrays, got[frame], strict=True):
            np.testing.assert_allclose(b[:, :2], a[:, :2], atol=1e-9)
            np.testing.assert_array_equal(b[:, 2], a[:, 2])
