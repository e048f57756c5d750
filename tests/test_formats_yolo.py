"""Ultralytics YOLO pose: the shared samples, write + read back, generated round trips,
malformed labels and data.yaml, atomic writes, and a cross-check with sleap-io.

Datasets for write tests are built in tmp folders with tiny Pillow images, because the
reader takes every image size from the image file.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from posemark.formats.errors import FormatError, FormatWarning, Problem
from posemark.formats.yolo import (
    SPEC,
    YoloConfig,
    label_lines,
    parse_label_text,
    read_yolo,
    sniff_yolo,
    write_yolo,
    yolo_losses,
)
from posemark.model import Category, Dataset, Frame, Instance, Skeleton
from posemark.schemas import load_builtin

THREE = "yolo/datumaro_yolov8_pose"
TWO = "yolo/datumaro_yolov8_pose_two_values_per_point"


def make_dataset(root: Path, data: dict[str, Any], labels: dict[str, str], size=(40, 30)) -> Path:
    """A dataset folder: data.yaml, one image per label file (``split/stem``), labels."""
    (root / "data.yaml").write_text(yaml.safe_dump(data), "utf-8")
    for key, text in labels.items():
        split, stem = key.split("/")
        img = root / "images" / split / f"{stem}.png"
        img.parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", size).save(img)
        label = root / "labels" / split / f"{stem}.txt"
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text(text, "utf-8")
    return root


def base_yaml(**kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"path": ".", "train": "images/train", "kpt_shape": [2, 3]}
    data["names"] = {0: "mouse"}
    data.update(kw)
    return data


# ---------------------------------------------------------------- shared samples


@pytest.mark.parametrize("variant", [THREE, TWO])
def test_reads_datumaro_samples(testdata: Path, variant: str) -> None:
    """Label line ``0 0.133333 0.3 0.266667 0.2 0.1 0.2 [2] 0.3 0.4 [2] 0.5 0.6 [2]``
    on a 15 x 10 image; [3, 2] files carry no visibility, so labeled points are visible."""
    ds = read_yolo(testdata / variant)
    assert [(c.id, c.name, c.skeleton.keypoints) for c in ds.categories] == [
        (0, "skeleton_label", ("kp1", "kp2", "kp3"))
    ]
    assert ds.images.file_names == ["images/train/1.jpg"]
    assert (ds.images.widths[0], ds.images.heights[0]) == (15, 10)
    assert ds.images.row_extras(0) == {"split": "train"}
    assert len(ds.instances) == 1
    inst = ds.instance(0)
    want = [[0.1 * 15, 0.2 * 10], [0.3 * 15, 0.4 * 10], [0.5 * 15, 0.6 * 10]]
    np.testing.assert_allclose(inst.points, want)
    assert inst.visibility.tolist() == [2, 2, 2]
    x = (0.133333 - 0.266667 / 2) * 15
    assert inst.bbox.tolist() == pytest.approx([x, (0.3 - 0.1) * 10, 0.266667 * 15, 0.2 * 10])
    # data.yaml given directly works the same
    assert read_yolo(testdata / variant / "data.yaml").instance(0) == inst


def test_sniff(testdata: Path, tmp_path: Path) -> None:
    assert sniff_yolo(testdata / THREE)
    assert sniff_yolo(testdata / TWO / "data.yaml")
    (tmp_path / "data.yaml").write_text("train: images/train\nnames: {0: a}\n")
    assert not sniff_yolo(tmp_path)
    assert not sniff_yolo(testdata / THREE / "labels" / "train" / "1.txt")


def test_coco17_names_and_flip_idx(tmp_path: Path) -> None:
    flip = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    line = "0 0.5 0.5 0.5 0.5 " + " ".join(["0.5 0.5 1"] * 17) + "\n"
    root = make_dataset(
        tmp_path, base_yaml(kpt_shape=[17, 3], flip_idx=flip, names=["person"]), {"train/a": line}
    )
    ds = read_yolo(root)
    coco = load_builtin("coco17")
    sk = ds.categories[0].skeleton
    assert sk.name == "person" and sk.keypoints == coco.keypoints
    assert sk.flip_pairs == coco.flip_pairs and sk.sigmas == coco.sigmas
    assert ds.instance(0).visibility.tolist() == [1] * 17  # occluded stays occluded


def test_two_values_zero_point_is_unlabeled(tmp_path: Path) -> None:
    root = make_dataset(
        tmp_path, base_yaml(kpt_shape=[2, 2]), {"train/a": "0 0.5 0.5 0.2 0.2 0 0 0.25 0.5\n"}
    )
    inst = read_yolo(root).instance(0)
    assert inst.visibility.tolist() == [0, 2]
    assert np.isnan(inst.points[0]).all() and inst.points[1].tolist() == [10.0, 15.0]


# ---------------------------------------------------------------- write + read back


def sample_dataset() -> Dataset:
    """Two classes, two splits, occluded and unlabeled keypoints, a box-less instance and
    an image without instances."""
    mouse = Skeleton("mouse", ("nose", "left_ear", "right_ear"), flip_pairs=((1, 2),))
    rat = Skeleton("rat", ("nose", "left_ear", "right_ear"), flip_pairs=((1, 2),))
    cats = [Category(0, "mouse", mouse), Category(1, "rat", rat)]
    frames = [
        Frame(1, "a.png", 40, 30, extras={"split": "train"}),
        Frame(2, "b.png", 40, 30, extras={"split": "val"}),
        Frame(3, "c.png", 40, 30, extras={"split": "train"}),
    ]
    pts = np.array([[3.0, 4.0], [10.5, 7.25], [np.nan, np.nan]])
    insts = [
        (1, 0, Instance(mouse, pts, [2, 1, 0], bbox=[1.0, 2.0, 20.0, 10.0])),
        (1, 1, Instance(rat, [[30.0, 20.0], [35.0, 25.0], [39.0, 29.0]], [2, 2, 2])),
        (2, 0, Instance(mouse, [[5.0, 5.0], [6.0, 6.0], [7.0, 8.0]], [1, 1, 2], bbox=[0, 0, 8, 9])),
    ]
    return Dataset.from_instances(cats, frames, insts)


def media(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        Image.new("RGB", (40, 30)).save(root / name)
    return root


def test_write_then_read_back(tmp_path: Path) -> None:
    ds = sample_dataset()
    out = tmp_path / "out"
    write_yolo(ds, out, media_root=media(tmp_path))
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["kpt_shape"] == [3, 3] and data["flip_idx"] == [0, 2, 1]
    assert data["names"] == {0: "mouse", 1: "rat"}
    assert (out / "labels/train/c.txt").read_text() == ""
    assert (out / "images.txt").read_text().splitlines()[1] == "images/val/b.png\tb.png"
    assert (out / "labels/train/a.txt").read_text().splitlines()[0] == (
        "0 0.275 0.2333333333 0.5 0.3333333333 0.075 0.1333333333 2 0.2625 0.2416666667 1 0 0 0"
    )
    back = read_yolo(out)
    assert [c.skeleton.keypoints for c in back.categories] == [
        c.skeleton.keypoints for c in ds.categories
    ]
    assert back.categories[0].skeleton.flip_pairs == ((1, 2),)
    by_name = {n: i for i, n in enumerate(back.images.file_names)}
    assert set(by_name) == {"images/train/a.png", "images/train/c.png", "images/val/b.png"}
    assert back.images.row_extras(by_name["images/val/b.png"]) == {"split": "val"}
    assert len(back.instances) == 3
    for i in range(3):
        a, b = ds.instance(i), back.instance(i)
        assert b.visibility.tolist() == a.visibility.tolist()
        np.testing.assert_allclose(b.points, a.points, atol=1e-6 * 40)
        want = a.bbox if a.bbox is not None else a.derived_bbox()
        np.testing.assert_allclose(b.bbox, want, atol=1e-6 * 40)
        assert (
            back.category(int(back.instances.category_ids[i])).name
            == ds.category(int(ds.instances.category_ids[i])).name
        )


def test_write_without_media_lists_images(tmp_path: Path) -> None:
    out = tmp_path / "out"
    SPEC.write(sample_dataset(), out)
    assert not (out / "images").exists()
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.txt")) == [
        "images.txt",
        "labels/train/a.txt",
        "labels/train/c.txt",
        "labels/val/b.txt",
    ]
    with pytest.raises(
        FormatError,
        match=r"labels/train/a\.txt: field 'image': no image for this label file: the image folder",
    ):
        read_yolo(out)


# ---------------------------------------------------------------- generated round trips

coord = st.floats(0, 1, allow_nan=False).map(lambda v: round(v, 4))


@st.composite
def generated(draw: st.DrawFn) -> tuple[Dataset, int, int, int]:
    k = draw(st.integers(1, 6))
    n_cls = draw(st.integers(1, 3))
    w, h = draw(st.integers(1, 5000)), draw(st.integers(1, 5000))
    keypoints = tuple(f"k{j}" for j in range(k))
    cats = [Category(i, f"c{i}", Skeleton(f"c{i}", keypoints)) for i in range(n_cls)]
    insts = []
    for _ in range(draw(st.integers(0, 5))):
        cid = draw(st.integers(0, n_cls - 1))
        vis = draw(st.lists(st.sampled_from([0, 1, 2]), min_size=k, max_size=k))
        pts = [[draw(coord) * w, draw(coord) * h] if v else [np.nan, np.nan] for v in vis]
        box = None
        if draw(st.booleans()):
            x, y = draw(coord), draw(coord)
            bw = draw(st.floats(0, 1 - x).map(lambda v: round(v, 4)))
            bh = draw(st.floats(0, 1 - y).map(lambda v: round(v, 4)))
            box = [x * w, y * h, bw * w, bh * h]
        insts.append((1, cid, Instance(cats[cid].skeleton, pts, vis, bbox=box)))
    return Dataset.from_instances(cats, [Frame(1, "f.jpg", w, h)], insts), k, w, h


@settings(max_examples=150, deadline=None)
@given(generated())
def test_converters_round_trip(case: tuple[Dataset, int, int, int]) -> None:
    ds, k, w, h = case
    n = len(ds.instances)
    text = label_lines(ds, np.arange(n), {c.id: c.id for c in ds.categories}, w, h)
    cfg = YoloConfig(k, 3, {c.id: c.name for c in ds.categories}, (), {"train": ["x"]})
    rows = parse_label_text(text, "f.txt", cfg, w, h, warn=lambda p: pytest.fail(str(p)))
    assert rows.classes.tolist() == ds.instances.category_ids.tolist()
    assert rows.visibility.tolist() == ds.instances.visibility.tolist()
    scale = np.array([w, h])
    np.testing.assert_allclose(rows.points / scale, ds.instances.points / scale, atol=1e-6)
    for i in range(n):
        inst = ds.instance(i)
        want = inst.bbox if inst.bbox is not None else inst.derived_bbox()
        if want is None or (want[2] == 0 and want[3] == 0):
            assert np.isnan(rows.bbox[i]).all()
        else:
            box_scale = np.tile(scale, 2)
            np.testing.assert_allclose(rows.bbox[i] / box_scale, want / box_scale, atol=1e-6)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(generated())
def test_files_round_trip(tmp_path_factory: pytest.TempPathFactory, case: Any) -> None:
    ds, _, w, h = case
    root = tmp_path_factory.mktemp("gen")
    (root / "media").mkdir()
    Image.new("L", (w, h)).save(root / "media" / "f.jpg")
    write_yolo(ds, root / "out", media_root=root / "media")
    back = read_yolo(root / "out")
    assert back.instances.visibility.tolist() == ds.instances.visibility.tolist()
    scale = np.array([w, h])
    np.testing.assert_allclose(
        back.instances.points / scale, ds.instances.points / scale, atol=1e-6
    )


# ---------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("0 0.5 0.5 0.2 0.2 0.1 0.1 2\n", r"a\.txt: line 1: field 'columns': expected 11 values"),
        ("0 0.5 0.5 0.2 0.2 0.1 zero 2 0.3 0.3 2\n", r"line 1: field 'y1': expected a number"),
        ("0 0.5 0.5 0.2 nan 0.1 0.1 2 0.3 0.3 2\n", r"field 'h': expected a number, found 'nan'"),
        ("7 0.5 0.5 0.2 0.2 0.1 0.1 2 0.3 0.3 2\n", r"field 'class': expected a class id .*'7'"),
        ("0 0.5 0.5 0.2 0.2 0.1 0.1 2 0.3 0.3 0.7\n", r"field 'v2': expected visibility .*0\.7"),
    ],
)
def test_malformed_label_lines(tmp_path: Path, line: str, match: str) -> None:
    root = make_dataset(tmp_path, base_yaml(), {"train/a": line})
    with pytest.raises(FormatError, match=match):
        read_yolo(root)


def test_coordinates_outside_image_warn_and_are_kept(tmp_path: Path) -> None:
    text = "0 0.5 0.5 0.2 0.2 0.1 0.1 2 0.3 0.3 2\n0 0.5 0.5 0.2 0.2 1.25 -0.5 1 0.3 0.3 2\n"
    root = make_dataset(tmp_path, base_yaml(), {"train/a": text})
    problems: list[Problem] = []
    ds = read_yolo(root, on_warning=problems.append)
    assert [(p.record, p.field) for p in problems] == [("line 2", "coordinates")]
    assert "1 line(s) have normalised coordinates outside [0, 1]" in problems[0].message
    assert ds.instance(1).points[0].tolist() == [1.25 * 40, -0.5 * 30]
    with pytest.warns(FormatWarning, match=r"a\.txt: line 2"):
        read_yolo(root)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"train": "images/train", "names": {0: "a"}}, r"field 'kpt_shape': missing required"),
        (base_yaml(kpt_shape=[3, 4]), r"field 'kpt_shape': expected \[K, 3\] or \[K, 2\]"),
        (base_yaml(flip_idx=[1, 1]), r"field 'flip_idx': not symmetric"),
        (base_yaml(flip_idx=[0]), r"field 'flip_idx': expected 2 keypoint indices"),
        (base_yaml(names=None), r"field 'names'"),
    ],
)
def test_bad_data_yaml(tmp_path: Path, data: dict[str, Any], match: str) -> None:
    root = make_dataset(tmp_path, data, {})
    with pytest.raises(FormatError, match=r"data\.yaml: " + match):
        read_yolo(root)


def test_label_without_image_names_the_label(tmp_path: Path) -> None:
    root = make_dataset(tmp_path, base_yaml(), {"train/a": ""})
    (root / "labels/train/b.txt").write_text("")
    with pytest.raises(FormatError, match=r"labels/train/b\.txt: field 'image': no image"):
        read_yolo(root)


def test_list_file_split_with_missing_image(tmp_path: Path) -> None:
    root = make_dataset(tmp_path, base_yaml(train="train.txt"), {"train/a": ""})
    (root / "labels/train/gone.txt").write_text("")
    (root / "train.txt").write_text("./images/train/a.png\n./images/train/gone.png\n")
    with pytest.raises(FormatError, match=r"gone\.txt: field 'image': image .*gone\.png not found"):
        read_yolo(root)
    (root / "train.txt").write_text("./images/train/a.png\n")
    assert read_yolo(root).images.file_names == ["images/train/a.png"]


# ---------------------------------------------------------------- atomic writes


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    ds = sample_dataset()
    root = media(tmp_path)
    (root / "b.png").unlink()  # frame 1 is written before frame 2 fails
    with pytest.raises(FormatError, match=r"b\.png: frame 2: field 'image': image not found"):
        write_yolo(ds, tmp_path / "out", media_root=root)
    assert [p.name for p in tmp_path.iterdir()] == ["media"]


def test_write_refuses_mixed_keypoint_counts_and_unknown_sizes(tmp_path: Path) -> None:
    a = Skeleton("a", ("p", "q"))
    b = Skeleton("b", ("p",))
    frames = [Frame(1, "x.jpg", 10, 10)]
    mixed = Dataset.from_instances([Category(0, "a", a), Category(1, "b", b)], frames, [])
    with pytest.raises(FormatError, match=r"categories: field 'kpt_shape': .*2, 1|1, 2"):
        write_yolo(mixed, tmp_path / "out")
    sizeless = Dataset.from_instances(
        [Category(0, "a", a)], [Frame(1, "x.jpg")], [(1, 0, Instance(a, [[1, 1], [2, 2]], [2, 2]))]
    )
    with pytest.raises(FormatError, match=r"frame 1 \(x\.jpg\): field 'width'"):
        write_yolo(sizeless, tmp_path / "out")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep").write_text("")
    with pytest.raises(FormatError, match="not empty"):
        write_yolo(sample_dataset(), tmp_path / "full")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]


# ---------------------------------------------------------------- losses


def test_losses_are_counted() -> None:
    a = Skeleton("a", ("p", "q"), edges=((0, 1),))
    inst = Instance(a, [[1, 1], [2, 2]], [2, 2], track_id=4, scores=[0.5, 0.9], z=[1.0, 2.0])
    ds = Dataset.from_instances([Category(3, "a", a)], [Frame(1, "x.jpg")], [(1, 3, inst)])
    assert yolo_losses(ds) == [
        "1 instances carry track ids, which YOLO pose does not keep",
        "1 instances carry per-keypoint scores, which YOLO pose does not keep",
        "1 instances carry depth (z) values, which YOLO pose does not keep",
        "1 instances are on frames without width/height, so they cannot be normalised "
        "and the write will fail",
        "1 categories' skeleton edges or OKS sigmas are not stored by YOLO pose",
        "1 category ids are renumbered to class indices 0..n-1",
        "1 instances have no bbox; the box around their labeled keypoints is written",
    ]
    assert yolo_losses(sample_dataset()) == [
        "1 instances have no bbox; the box around their labeled keypoints is written"
    ]


# ---------------------------------------------------------------- sleap-io cross-check


def test_sleap_io_reads_our_export(tmp_path: Path) -> None:
    import sleap_io as sio  # a dependency of posemark: its absence is a failure

    out = tmp_path / "out"
    ds = sample_dataset()
    write_yolo(ds, out, media_root=media(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train = sio.load_ultralytics(str(out), split="train")
        val = sio.load_ultralytics(str(out), split="val")
    got = {}
    for split, labels in (("train", train), ("val", val)):
        for lf in labels.labeled_frames:
            fn = lf.video.filename
            name = Path(fn[0] if isinstance(fn, list) else fn).name
            got[(split, name)] = [inst.numpy() for inst in lf.instances]
    assert sorted((k, len(v)) for k, v in got.items()) == [
        (("train", "a.png"), 2),
        (("train", "c.png"), 0),
        (("val", "b.png"), 1),
    ]
    # sleap-io folds occluded into visible and unlabeled into NaN; coordinates must agree
    np.testing.assert_allclose(got[("train", "a.png")][0], ds.instance(0).points, atol=1e-4)
    np.testing.assert_allclose(got[("train", "a.png")][1], ds.instance(1).points, atol=1e-4)
    np.testing.assert_allclose(got[("val", "b.png")][0], ds.instance(2).points, atol=1e-4)


def test_image_without_label_file_is_a_frame_without_instances(tmp_path: Path) -> None:
    root = make_dataset(tmp_path, base_yaml(), {"train/a": "0 0.5 0.5 0.2 0.2 0.1 0.1 2 0 0 0\n"})
    Image.new("L", (8, 6)).save(root / "images/train/b.png")
    ds = read_yolo(root)
    assert ds.images.file_names == ["images/train/a.png", "images/train/b.png"]
    assert ds.images.widths.tolist() == [40, 8]
    assert ds.instances.image_ids.tolist() == [1]


def test_registry_detects_data_yaml(testdata: Path) -> None:
    from posemark.formats import registry

    # the lead may already register it: put back whatever was there
    before = next((s for s in registry.list_formats() if s.name == "yolo"), None)
    registry.register_format(SPEC, replace=True)
    try:
        assert registry.detect_format(testdata / THREE / "data.yaml") is SPEC
        assert len(registry.read(testdata / TWO, format="yolo").instances) == 1
    finally:
        if before is None:
            registry.unregister_format("yolo")
        else:
            registry.register_format(before, replace=True)
