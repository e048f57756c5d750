"""MPII Human Pose: mmpose's JSON, MPII-json (CPM) and the official .mat.

Samples (see shared/testdata/PROVENANCE.md):
- ``mpii/mmpose_mpii/test_mpii.json``: mmpose list, 5 persons in 5 images, two of them
  with both ankles unlabeled (joints_vis 0, coordinates -1, -1).
- ``mpii/datumaro_mpii_json/mpii_annotations.json``: MPII-json, 3 persons, 5 occluded
  joints (v 0 with coordinates).
- ``mpii/datumaro_mpii_mat/mpii_human_pose_v1_u12_1.mat``: cut-down RELEASE.annolist,
  3 images, 4 persons; the first person of each image is the MPII-json sample's person.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.io as sio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posemark.formats import mpii, mpii_mat
from posemark.formats.coco_io import read_coco
from posemark.formats.errors import FormatError
from posemark.formats.mpii import (
    MMPOSE,
    MPII_JSON,
    Person,
    dataset_from_persons,
    json_losses,
    read_mpii_json,
    sniff_mpii_json,
    write_mpii_json,
)
from posemark.formats.mpii_mat import mat_losses, read_mpii_mat, sniff_mpii_mat, write_mpii_mat
from posemark.model import Dataset

MMPOSE_FILE = "mpii/mmpose_mpii/test_mpii.json"
CPM_FILE = "mpii/datumaro_mpii_json/mpii_annotations.json"
MAT_FILE = "mpii/datumaro_mpii_mat/mpii_human_pose_v1_u12_1.mat"


def load(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def same_instances(a: Dataset, b: Dataset) -> None:
    assert len(a.instances) == len(b.instances)
    for i in range(len(a.instances)):
        assert a.instance(i) == b.instance(i), i
    assert a.images.file_names == b.images.file_names


# ---------------------------------------------------------------- reading, checked by hand


def test_mmpose_read_by_hand(testdata: Path) -> None:
    ds = read_mpii_json(testdata / MMPOSE_FILE)
    assert ds.extras["mpii_variant"] == MMPOSE
    assert (len(ds.images), len(ds.instances)) == (5, 5)
    assert ds.categories[0].skeleton.name == "mpii16"
    # entry 2: 051423444.jpg, both ankles unlabeled at -1, -1
    inst = ds.instance(2)
    assert ds.images.file_names[2] == "051423444.jpg"
    assert inst.keypoint("right_knee") == (1033.0, 649.0, 2)
    assert inst.keypoint("upper_neck") == (1026.998, 281.6248, 2)
    assert inst.keypoint("left_wrist") == (842.0, 330.0, 2)
    for name in ("right_ankle", "left_ankle"):
        x, y, v = inst.keypoint(name)
        assert v == 0 and math.isnan(x) and math.isnan(y)
    assert inst.extras == {"center": [1030.0, 396.0], "scale": 3.139233}
    assert int((ds.instances.visibility == 0).sum()) == 4
    assert not (ds.instances.visibility == 1).any()  # mmpose cannot say occluded


def test_cpm_read_by_hand(testdata: Path) -> None:
    ds = read_mpii_json(testdata / CPM_FILE)
    assert ds.extras["mpii_variant"] == MPII_JSON
    assert (len(ds.images), len(ds.instances)) == (3, 3)
    assert (int(ds.images.widths[0]), int(ds.images.heights[0])) == (1280, 720)
    inst = ds.instance(0)
    assert inst.keypoint("right_ankle") == (620.0, 394.0, 2)
    assert inst.keypoint("left_hip") == (647.0, 188.0, 1)  # [647, 188, 0]: occluded
    assert inst.keypoint("pelvis") == (610.0, 187.0, 1)
    assert inst.keypoint("head_top") == (695.98, 108.182, 2)
    assert inst.extras == {"dataset": "MPI", "isValidation": 0.0, "center": [594.0, 257.0],
                           "scale": 3.021}  # fmt: skip
    assert int((ds.instances.visibility == 1).sum()) == 5


def test_mat_read_by_hand(testdata: Path) -> None:
    ds = read_mpii_mat(testdata / MAT_FILE)
    assert "mpii_variant" not in ds.extras
    assert ds.images.file_names == ["000000001.jpg", "000000002.jpg", "000000003.jpg"]
    assert ds.instances.image_ids.tolist() == [1, 2, 3, 3]
    # annolist[2].annorect[1]: the second person of 000000003.jpg
    inst = ds.instance(3)
    assert inst.keypoint("right_ankle") == (490.0, 264.0, 2)
    assert inst.keypoint("thorax") == (517.0, 46.0, 1)  # is_visible 0
    assert inst.keypoint("head_top") == (545.98, 8.182, 2)
    assert inst.extras == {"center": [464.0, 127.0], "scale": 2.65,
                           "head_box": [213.3, 412.43, 334.0, 434.0]}  # fmt: skip
    assert ds.instance(0).extras["head_box"] == [615.0, 218.65, 903.4, 505.6]


def test_mat_agrees_with_cpm_json(testdata: Path) -> None:
    """The MPII-json sample is the first person of each .mat image, minus the head box."""
    mat = read_mpii_mat(testdata / MAT_FILE)
    cpm = read_mpii_json(testdata / CPM_FILE)
    first_rows = [0, 1, 2]  # the .mat's 4th person (second in image 3) is not in the JSON
    assert [mat.images.file_names[int(mat.instances.image_ids[r]) - 1] for r in first_rows] == (
        cpm.images.file_names
    )
    for j, r in enumerate(first_rows):
        a, b = mat.instance(r), cpm.instance(j)
        np.testing.assert_array_equal(a.points, b.points)
        np.testing.assert_array_equal(a.visibility, b.visibility)
        assert a.extras["center"] == b.extras["center"]
        assert a.extras["scale"] == b.extras["scale"]


def test_sniffers(testdata: Path) -> None:
    assert sniff_mpii_json(testdata / MMPOSE_FILE)
    assert sniff_mpii_json(testdata / CPM_FILE)
    assert not sniff_mpii_json(testdata / "coco/mmpose_coco/test_coco.json")
    assert not sniff_mpii_json(testdata / "mpii/mmpose_mpii/test_mpii_trb.json")
    assert sniff_mpii_mat(testdata / MAT_FILE)
    assert not sniff_mpii_mat(testdata / CPM_FILE)
    assert (mpii.SPEC.name, mpii_mat.SPEC.name) == ("mpii-json", "mpii-mat")


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", [MMPOSE_FILE, CPM_FILE])
def test_json_round_trip_equal(testdata: Path, tmp_path: Path, name: str) -> None:
    """read + write gives the same parsed JSON (1280 and 1280.0 are the same number)."""
    out = tmp_path / "out.json"
    write_mpii_json(read_mpii_json(testdata / name), out)
    assert load(out) == load(testdata / name)


def test_mat_round_trip(testdata: Path, tmp_path: Path) -> None:
    ds = read_mpii_mat(testdata / MAT_FILE)
    out = tmp_path / "out.mat"
    write_mpii_mat(ds, out)
    same_instances(ds, read_mpii_mat(out))
    raw = sio.loadmat(out, struct_as_record=False, squeeze_me=True)["RELEASE"]
    assert raw.annolist[2].annorect[1].annopoints.point[7].is_visible == 0


def test_mat_keeps_images_without_persons(tmp_path: Path) -> None:
    person = Person("a.jpg", np.full((16, 2), 5.0), np.full(16, 2, dtype=np.uint8))
    ds = dataset_from_persons([person], None, frame_names=["empty.jpg", "a.jpg"])
    write_mpii_mat(ds, tmp_path / "x.mat")
    back = read_mpii_mat(tmp_path / "x.mat")
    assert back.images.file_names == ["empty.jpg", "a.jpg"]
    same_instances(ds, back)
    assert json_losses(ds) == ["1 frame without instances, which mmpose's MPII JSON does not list"]


def test_mat_single_image_person_point(tmp_path: Path) -> None:
    """One of each: MATLAB squeezes 1-element struct arrays to scalars on read."""
    vis = np.zeros(16, dtype=np.uint8)
    pts = np.full((16, 2), np.nan)
    vis[9], pts[9] = 1, (10.5, 20.25)
    ds = dataset_from_persons([Person("a.jpg", pts, vis, {"scale": 2.0})], None)
    write_mpii_mat(ds, tmp_path / "one.mat")
    same_instances(ds, read_mpii_mat(tmp_path / "one.mat"))


def test_mat_to_json_keeps_head_box(testdata: Path, tmp_path: Path) -> None:
    mat = read_mpii_mat(testdata / MAT_FILE)
    for variant in (MMPOSE, MPII_JSON):
        out = tmp_path / f"{variant}.json"
        write_mpii_json(mat, out, variant=variant)
        back = read_mpii_json(out)
        assert back.extras["mpii_variant"] == variant
        assert back.instance(3).extras["head_box"] == [213.3, 412.43, 334.0, 434.0]
    # MPII-json keeps occlusion, so the .mat comes back whole
    write_mpii_mat(read_mpii_json(tmp_path / f"{MPII_JSON}.json"), tmp_path / "back.mat")
    same_instances(mat, read_mpii_mat(tmp_path / "back.mat"))


def test_variant_switch_and_occlusion_loss(testdata: Path, tmp_path: Path) -> None:
    cpm = read_mpii_json(testdata / CPM_FILE)
    cpm.extras["mpii_variant"] = MMPOSE
    assert json_losses(cpm) == [
        "5 occluded keypoints, which mmpose's MPII JSON stores as labeled "
        "(they read back as visible)",
        "image widths and heights, which mmpose's MPII JSON does not keep",
    ]
    write_mpii_json(cpm, tmp_path / "m.json")
    doc = load(tmp_path / "m.json")
    assert doc[0]["joints_vis"][3] == 1 and doc[0]["joints"][3] == [647.0, 188.0]
    assert doc[0]["center"] == [594.0, 257.0] and doc[0]["scale"] == 3.021


# ---------------------------------------------------------------- losses and refusals


def test_non_mpii_skeleton_refused(testdata: Path, tmp_path: Path) -> None:
    coco = read_coco(testdata / "coco/mmpose_coco/test_coco.json")
    losses = json_losses(coco)
    assert losses[0].startswith("1 category (person) not on the mpii16 skeleton")
    assert "14 instances carry a bounding box, which mmpose's MPII JSON does not keep" in losses
    assert any("carry a bounding box" in x for x in mat_losses(coco))
    for write, name in ((write_mpii_json, "x.json"), (write_mpii_mat, "x.mat")):
        with pytest.raises(FormatError, match=r"category 1: field 'skeleton': MPII stores the 16"):
            write(coco, tmp_path / name)
        assert not (tmp_path / name).exists()
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_losses_count_tracks_and_scores(testdata: Path) -> None:
    ds = read_mpii_json(testdata / MMPOSE_FILE)
    assert json_losses(ds) == []
    ds.instances.track_ids[:2] = 7
    ds.instances.score[0] = 0.9
    assert json_losses(ds) == [
        "2 instances carry track ids, which mmpose's MPII JSON does not keep",
        "1 instance carries a score, which mmpose's MPII JSON does not keep",
    ]


# ---------------------------------------------------------------- malformed input


def _broken(testdata: Path, tmp_path: Path, name: str, entry: int, edit: Any) -> Path:
    doc = load(testdata / name)
    edit(doc[entry])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        (MMPOSE_FILE, lambda e: e["joints"].pop(),
         r"entry 2: field 'joints': expected a list of 16 \[x, y\] joints, found 15 items"),
        (MMPOSE_FILE, lambda e: e.__setitem__("joints_vis", [2] * 16),
         r"entry 2: field 'joints_vis': expected 16 values 0 or 1"),
        (MMPOSE_FILE, lambda e: e.pop("image"), r"entry 2: field 'image': required field"),
        (MMPOSE_FILE, lambda e: e["joints"][4].append(1),
         r"entry 2: field 'joints': joint 4: expected \[x, y\]"),
        (MMPOSE_FILE, lambda e: e.__setitem__("scale", "big"),
         r"entry 2: field 'scale': expected a finite number, found 'big'"),
        (CPM_FILE, lambda e: e["joint_self"].pop(),
         r"entry 2: field 'joint_self': expected a list of 16 \[x, y, v\] joints, found 15"),
        (CPM_FILE, lambda e: e["joint_self"][6].__setitem__(2, 0.5),
         r"entry 2: field 'joint_self': joint 6: expected visibility 0 or 1, found 0.5"),
        (CPM_FILE, lambda e: e.__setitem__("img_width", -3),
         r"entry 2: field 'img_width': expected a positive integer"),
    ],
)  # fmt: skip
def test_malformed_json_names_entry_and_field(
    testdata: Path, tmp_path: Path, name: str, edit: Any, message: str
) -> None:
    path = _broken(testdata, tmp_path, name, 2, edit)
    with pytest.raises(FormatError, match=message) as err:
        read_mpii_json(path)
    assert str(err.value).startswith(str(path))
    assert err.value.problem.record == "entry 2"


def test_malformed_json_documents(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[{", encoding="utf-8")
    with pytest.raises(FormatError, match=r"bad.json: invalid JSON"):
        read_mpii_json(bad)
    bad.write_text('{"joints": []}', encoding="utf-8")
    with pytest.raises(FormatError, match=r"expected a JSON list of persons, found dict"):
        read_mpii_json(bad)
    bad.write_text('[{"keypoints": []}]', encoding="utf-8")
    with pytest.raises(FormatError, match=r"entry 0: expected an mmpose \('joints'\)"):
        read_mpii_json(bad)


def test_malformed_mat_names_annolist_and_field(testdata: Path, tmp_path: Path) -> None:
    ds = read_mpii_mat(testdata / MAT_FILE)
    mapping = mpii_mat.release_from_persons(
        mpii.persons_from_dataset(ds, "x"), list(ds.images.file_names)
    )
    rects = mapping["RELEASE"]["annolist"][0, 2]["annorect"]
    rects[0, 1]["annopoints"]["point"][0, 3]["id"] = 16
    path = tmp_path / "bad.mat"
    sio.savemat(path, mapping)
    with pytest.raises(
        FormatError,
        match=r"annolist\[2\].annorect\[1\]: field 'annopoints.point\[3\].id': "
        r"expected a joint id 0..15, found 16",
    ):
        read_mpii_mat(path)
    sio.savemat(path, {"other": np.zeros(3)})
    with pytest.raises(FormatError, match=r"field 'RELEASE': expected a variable RELEASE"):
        read_mpii_mat(path)
    path.write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(FormatError, match=r"bad.mat: not a readable MATLAB file"):
        read_mpii_mat(path)


# ---------------------------------------------------------------- property-based

_coord = st.floats(min_value=1.0, max_value=5000.0, allow_nan=False)


@st.composite
def persons(draw: st.DrawFn) -> list[Person]:
    out = []
    for _ in range(draw(st.integers(0, 4))):
        vis = np.array(draw(st.lists(st.integers(0, 2), min_size=16, max_size=16)), dtype=np.uint8)
        pts = np.array(draw(st.lists(st.tuples(_coord, _coord), min_size=16, max_size=16)))
        pts[vis == 0] = np.nan
        extras: dict[str, Any] = {}
        if draw(st.booleans()):
            extras["center"] = [draw(_coord), draw(_coord)]
            extras["scale"] = draw(st.floats(0.1, 20.0))
        if draw(st.booleans()):
            extras["head_box"] = [draw(_coord) for _ in range(4)]
        out.append(Person(draw(st.sampled_from(["a.jpg", "b.jpg"])), pts, vis, extras))
    return out


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(people=persons(), variant=st.sampled_from([MMPOSE, MPII_JSON]))
def test_json_round_trip_property(tmp_path: Path, people: list[Person], variant: str) -> None:
    """Writing and reading back keeps every person; mmpose's variant turns occluded into
    visible, MPII-json keeps it."""
    ds = dataset_from_persons(people, variant)
    path = tmp_path / "p.json"
    write_mpii_json(ds, path)
    back = read_mpii_json(path)
    assert len(back.instances) == len(ds.instances)
    for i in range(len(ds.instances)):
        a, b = ds.instance(i), back.instance(i)
        want = a.visibility.copy()
        if variant == MMPOSE:
            want[want == 1] = 2
        np.testing.assert_array_equal(b.visibility, want)
        np.testing.assert_array_equal(b.points, a.points)
        assert b.extras == a.extras
