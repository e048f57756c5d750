"""Automated QA checks on real COCO annotations (mmpose's test_coco.json).

Each check gets one known error injected into a copy of the file and must flag exactly
that instance/keypoint; on the clean file the findings are the measured ones below.
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from posemark import formats
from posemark.model.dataset import Dataset, InstanceTable
from posemark.qa import CHECKS, Finding, QaConfig, run_checks
from posemark.schemas import load_builtin

KP = {n: i for i, n in enumerate(load_builtin("coco17").keypoints)}


@pytest.fixture(scope="module")
def clean(testdata: Path) -> Dataset:
    return formats.read(testdata / "coco/mmpose_coco/test_coco.json", on_warning=lambda *a: None)


@pytest.fixture
def ds(clean: Dataset) -> Dataset:
    return copy.deepcopy(clean)


def _row(ds: Dataset, annotation_id: int) -> int:
    return int(np.flatnonzero(ds.instances.ids == annotation_id)[0])


def _keys(findings: list[Finding], check: str) -> set[tuple[int, str | None]]:
    return {(f.annotation_id, f.keypoint) for f in findings if f.check == check}


def _new(ds: Dataset, clean: Dataset, check: str) -> set[tuple[int, str | None]]:
    return _keys(run_checks(ds, only=[check]), check) - _keys(run_checks(clean), check)


def test_clean_file_findings_measured(clean: Dataset) -> None:
    findings = run_checks(clean)
    counts = Counter(f.check for f in findings)
    print(dict(counts))
    assert counts == {"too_few_keypoints": 2, "left_right_inversion": 1}
    # the two instances with 0 keypoints (not crowd: iscrowd is 0 for all 14): COCO's
    # box-only people, severity info
    assert _keys(findings, "too_few_keypoints") == {(1202706, None), (508900, None)}
    assert {f.severity for f in findings if f.check == "too_few_keypoints"} == {"info"}
    # 198196 (image 40083): shoulders/hips labeled as seen from behind (left on image left),
    # eyes as seen from the front: a man looking over his shoulder, which keypoints alone
    # cannot tell from a mirrored face (the image can: test_qa_model_agreement.py).
    # 488308's arms crossed in front of the body are not flagged: swapped, each wrist
    # would sit on its own elbow (QaConfig.limb_fold_ratio)
    assert _keys(findings, "left_right_inversion") == {(198196, None)}
    assert {f.severity for f in findings if f.check == "left_right_inversion"} == {"warning"}
    assert [(f.image_id, f.annotation_id) for f in findings] == sorted(
        (f.image_id, f.annotation_id) for f in findings
    )


def test_every_check_registered_and_has_a_docstring() -> None:
    assert list(CHECKS) == [
        "left_right_inversion",
        "swapped_with_other_person",
        "bone_length_outlier",
        "outside_image",
        "outside_box",
        "duplicate_instance",
        "too_few_keypoints",
        "inconsistent_visibility",
        "track_jump",
        "identity_switch",
        "model_agreement",
    ]
    assert all(fn.__doc__ for fn in CHECKS.values())


def test_swapped_wrists_flagged(ds: Dataset, clean: Dataset) -> None:
    r = _row(ds, 442619)
    pts, vis = ds.instances.points, ds.instances.visibility
    lw, rw = KP["left_wrist"], KP["right_wrist"]
    pts[r, [lw, rw]] = pts[r, [rw, lw]]
    vis[r, [lw, rw]] = vis[r, [rw, lw]]
    assert _new(ds, clean, "left_right_inversion") == {(442619, "left_wrist")}


def test_swapped_shoulders_flagged_by_orientation(ds: Dataset, clean: Dataset) -> None:
    r = _row(ds, 442619)
    pts = ds.instances.points
    ls, rs = KP["left_shoulder"], KP["right_shoulder"]
    pts[r, [ls, rs]] = pts[r, [rs, ls]]
    assert _new(ds, clean, "left_right_inversion") == {(442619, "left_shoulder")}


def test_person_seen_from_behind_is_not_flagged(ds: Dataset) -> None:
    """Mirroring every labeled point (x -> 1000 - x) but keeping the labels turns a
    person without a visible face into one seen from behind with anatomical labels
    (COCO's convention): not flagged. A face (nose and both eyes) has no such view, so
    every mirrored face is flagged at its left eye (the flip-augmentation mistake).
    Also swapping every left/right label gives correct front views again: only the clean
    file's findings remain."""
    t = ds.instances
    lab = t.visibility > 0
    t.points[..., 0] = np.where(lab, 1000.0 - t.points[..., 0], t.points[..., 0])
    perm = ds.categories[0].skeleton.flip_permutation()
    relabeled = copy.deepcopy(ds)
    relabeled.instances.points[:] = t.points[:, perm]
    relabeled.instances.visibility[:] = t.visibility[:, perm]
    clean_keys = {(198196, None)}
    faces = (t.visibility[:, [KP["nose"], KP["left_eye"], KP["right_eye"]]] > 0).all(1)
    assert faces.sum() == 9 and (~faces & lab.any(1)).sum() == 3
    mirrored = _keys(run_checks(ds, only=["left_right_inversion"]), "left_right_inversion")
    assert mirrored == clean_keys | {(int(i), "left_eye") for i in t.ids[faces]}
    found = run_checks(relabeled, only=["left_right_inversion"])
    assert _keys(found, "left_right_inversion") == clean_keys


def test_keypoint_on_other_person_flagged(ds: Dataset, clean: Dataset) -> None:
    a, b = _row(ds, 437295), _row(ds, 533949)  # two people of image 197388
    k = KP["left_wrist"]
    ds.instances.points[a, k] = ds.instances.points[b, k]
    assert (437295, "left_wrist") in _new(ds, clean, "swapped_with_other_person")
    assert _new(ds, clean, "swapped_with_other_person") == {(437295, "left_wrist")}


def test_bone_three_times_longer_flagged(ds: Dataset, clean: Dataset) -> None:
    """Shin x3 (the ankle moves along the knee-ankle line): the shin implies a person
    2.7x taller than the rest of the body does (limit 1.6x); reported once, at the ankle."""
    r = _row(ds, 467657)
    knee, ankle = KP["left_knee"], KP["left_ankle"]
    p = ds.instances.points
    p[r, ankle] = p[r, knee] + 3 * (p[r, ankle] - p[r, knee])
    assert _new(ds, clean, "bone_length_outlier") == {(467657, "left_ankle")}


@pytest.mark.parametrize(("factor", "flagged"), [(2.5, False), (3.0, True)])
def test_foreshortened_forearm_stretched(
    ds: Dataset, clean: Dataset, factor: float, flagged: bool
) -> None:
    """Measured limit: 442619's left forearm is foreshortened to 28 px (upper arm 48 px);
    stretched x2.5 along its own line it is still a plausible forearm for the body its
    legs imply (under the 1.4x limit); x3 implies a person 1.4x taller and is flagged."""
    r = _row(ds, 442619)
    e, w = KP["left_elbow"], KP["left_wrist"]
    p = ds.instances.points
    p[r, w] = p[r, e] + factor * (p[r, w] - p[r, e])
    expected = {(442619, "left_wrist")} if flagged else set()
    assert _new(ds, clean, "bone_length_outlier") == expected


def test_keypoint_outside_image_flagged(ds: Dataset, clean: Dataset) -> None:
    r = _row(ds, 442619)  # image 785 is 640 x 425
    ds.instances.points[r, KP["nose"]] = (640.0, 100.0)
    assert _new(ds, clean, "outside_image") == {(442619, "nose")}
    found = run_checks(ds, only=["outside_image"])
    assert found[0].severity == "error" and found[0].image_id == 785


def test_keypoint_outside_box_flagged(ds: Dataset, clean: Dataset) -> None:
    r = _row(ds, 442619)
    x, y, w, h = ds.instances.bbox[r]
    ds.instances.points[r, KP["nose"]] = (x + w * 1.2, y + h / 2)
    assert _new(ds, clean, "outside_box") == {(442619, "nose")}
    ds.instances.points[r, KP["nose"]] = (x + w * 1.05, y + h / 2)  # within the 10 % margin
    assert _new(ds, clean, "outside_box") == set()


def test_duplicate_instance_flagged(ds: Dataset, clean: Dataset) -> None:
    t = ds.instances
    r = _row(ds, 437295)
    extra = t.take(np.array([r]))
    extra.ids[:] = 999
    extra.points[0] += 2.0  # nearly the same pose, 2 px off
    table = InstanceTable.concat([t, extra])
    dup = Dataset(ds.categories, ds.images, table)
    assert _new(dup, clean, "duplicate_instance") == {(999, None)}
    assert run_checks(dup, only=["duplicate_instance"])[0].severity == "error"


def test_too_few_keypoints_threshold(clean: Dataset) -> None:
    found = run_checks(clean, QaConfig(min_labeled=14), only=["too_few_keypoints"])
    # labeled counts per instance: 17 14 15 0 15 15 0 12 17 16 16 15 16 13
    assert {f.annotation_id for f in found} == {1202706, 508900, 1717641, 543117}


def test_crowd_instances_are_skipped(ds: Dataset) -> None:
    ds.instances.iscrowd[_row(ds, 1202706)] = 1
    found = run_checks(ds, only=["too_few_keypoints"])
    assert {f.annotation_id for f in found} == {508900}


def test_inconsistent_visibility_flagged(ds: Dataset, clean: Dataset) -> None:
    t = ds.instances
    r = _row(ds, 442619)
    t.points[r, KP["nose"]] = (0.0, 0.0)  # labeled (v=2) at COCO's "absent" spot
    r2 = _row(ds, 198196)
    assert t.visibility[r2, KP["left_ear"]] == 0
    t.points[r2, KP["left_ear"]] = (70.0, 130.0)  # placed but v=0
    assert _new(ds, clean, "inconsistent_visibility") == {
        (442619, "nose"),
        (198196, "left_ear"),
    }


def test_only_and_unknown_check(clean: Dataset) -> None:
    assert run_checks(clean, only=["outside_image"]) == []
    with pytest.raises(ValueError, match="unknown check"):
        run_checks(clean, only=["nope"])


def test_finding_as_dict_keys(clean: Dataset) -> None:
    d = run_checks(clean)[0].as_dict()
    assert list(d) == ["check", "severity", "image_id", "annotation_id", "keypoint", "message"]


def test_face_mirrored_against_torso_flagged(ds: Dataset, clean: Dataset) -> None:
    """Eyes and ears swapped (face labeled as if seen from the other side): the face
    disagrees with the torso (instance finding) and a frontal face is mirrored (finding
    at the left eye)."""
    r = _row(ds, 442619)
    p = ds.instances.points
    for a, b in (("left_eye", "right_eye"), ("left_ear", "right_ear")):
        p[r, [KP[a], KP[b]]] = p[r, [KP[b], KP[a]]]
    assert _new(ds, clean, "left_right_inversion") == {(442619, None), (442619, "left_eye")}


def test_point_of_a_person_cut_by_the_frame(testdata: Path) -> None:
    """PoseTrack 1012834000010 sits in a wheelchair with the head above the frame: its
    head top (y = -24.9) lies inside its own box, which the frame cuts too, an estimate
    (info). The same point with a box inside the image is an error."""
    path = testdata / "posetrack/mmpose_posetrack18/annotations/test_posetrack18_val.json"
    ds = formats.read(path, on_warning=lambda *a: None)
    found = run_checks(ds, only=["outside_image"])
    assert [(f.annotation_id, f.keypoint, f.severity) for f in found] == [
        (1012834000010, "head_top", "info")
    ]
    r = _row(ds, 1012834000010)
    ds.instances.bbox[r, 1] = 0.0  # the box now starts at the image's top edge
    found = run_checks(ds, only=["outside_image"])
    assert [(f.annotation_id, f.keypoint, f.severity) for f in found] == [
        (1012834000010, "head_top", "error")
    ]
