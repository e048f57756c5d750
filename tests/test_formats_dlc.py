"""DeepLabCut labeled data: the openfield sample read as CSV and H5, round trips, maDLC
identities, sleap-io reading our output, located errors and atomic writes.

The openfield sample (``dlc/openfield-Pranav-2018-10-30``) is single-animal, 116 rows,
4 body parts, one-column image paths; only img0000-0004.png of its 116 images are present,
so 111 frames have unknown size and reading warns once with that count.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from posemark.formats import dlc
from posemark.formats.dlc import (
    SPEC,
    UNIQUE,
    DlcTable,
    dataset_from_table,
    format_csv,
    parse_csv,
    read_dlc,
    table_from_dataset,
    write_dlc,
)
from posemark.formats.errors import FormatError, Problem
from posemark.model import Category, Dataset, Frame, Instance, Skeleton, Track

PROJECT = "dlc/openfield-Pranav-2018-10-30"
VIDEO = f"{PROJECT}/labeled-data/m4s1"


@pytest.fixture
def project(testdata: Path) -> Path:
    """The openfield project: config.yaml + one video folder, 5 of 116 images present."""
    return testdata / PROJECT


def read_quiet(path: Path) -> tuple[Dataset, list[Problem]]:
    problems: list[Problem] = []
    return read_dlc(path, on_warning=problems.append), problems


def frames_of(ds: Dataset) -> dict[str, list[tuple[int, str, list[list[float]], list[int]]]]:
    """Per image: (category id, track name, points, visibility) of each instance, sorted."""
    names = {t.id: t.name for t in ds.tracks}
    out: dict[str, list[tuple[int, str, list[list[float]], list[int]]]] = {
        f: [] for f in ds.images.file_names
    }
    row_of = {int(i): r for r, i in enumerate(ds.images.ids)}
    t = ds.instances
    for i in range(len(t)):
        k = ds.category(int(t.category_ids[i])).skeleton.num_keypoints
        pts = np.where(t.visibility[i, :k, None] > 0, t.points[i, :k], -1.0)
        out[ds.images.file_names[row_of[int(t.image_ids[i])]]].append(
            (
                int(t.category_ids[i]),
                names.get(int(t.track_ids[i]), ""),
                pts.tolist(),
                t.visibility[i, :k].tolist(),
            )
        )
    return {f: sorted(v) for f, v in out.items()}


# ---------------------------------------------------------------- the real sample


def test_csv_read_matches_values_read_by_hand(project: Path) -> None:
    ds, problems = read_quiet(
        project / VIDEO.removeprefix(PROJECT + "/") / "CollectedData_Pranav.csv"
    )
    assert len(ds.images) == 116 and len(ds.instances) == 116
    assert ds.categories[0].skeleton.keypoints == ("snout", "leftear", "rightear", "tailbase")
    assert ds.images.file_names[0] == "labeled-data/m4s1/img0000.png"
    first = ds.instance(0)
    # row 4 of the CSV text: 21.521,265.428,33.819,265.941,19.984,250.05599999999998,87.11,...
    assert first.keypoint("snout") == (21.521, 265.428, 2)
    assert first.keypoint("rightear") == (19.984, 250.05599999999998, 2)
    assert first.keypoint("tailbase") == (87.11, 152.69799999999998, 2)
    # img0004: 38.431,333.066,50.729,341.777,39.968,323.33099999999996,131.17700000000002,273.627
    assert ds.instance(4).keypoint("tailbase") == (131.17700000000002, 273.627, 2)
    assert ds.instance(4).track_id is None and ds.tracks == []
    assert (
        ds.images.widths[:5].tolist() == [640] * 5 and ds.images.heights[:5].tolist() == [480] * 5
    )
    assert (ds.images.widths[5:] == 0).all()
    assert [(p.field, p.message) for p in problems] == [
        ("images", "111 of 116 images listed are missing or unreadable; their sizes are unknown")
    ]


def test_csv_h5_folder_and_project_agree(project: Path) -> None:
    paths = [
        project / "labeled-data/m4s1/CollectedData_Pranav.csv",
        project / "labeled-data/m4s1/CollectedData_Pranav.h5",
        project / "labeled-data/m4s1",
        project,
    ]
    read = [read_quiet(p)[0] for p in paths]
    for other in read[1:]:
        assert frames_of(other) == frames_of(read[0])
        assert other.categories[0].skeleton == read[0].categories[0].skeleton
        np.testing.assert_array_equal(other.images.widths, read[0].images.widths)


def test_missing_images_warn_as_python_warning(project: Path) -> None:
    with pytest.warns(UserWarning, match="111 of 116 images"):
        read_dlc(project / "labeled-data/m4s1/CollectedData_Pranav.csv")


def test_csv_round_trip_is_byte_identical(project: Path, tmp_path: Path) -> None:
    src = project / "labeled-data/m4s1/CollectedData_Pranav.csv"
    ds, _ = read_quiet(src)
    out = tmp_path / "CollectedData_Pranav.csv"
    write_dlc(ds, out)
    assert out.read_text() == src.read_text()
    again, _ = read_quiet(out)
    assert frames_of(again) == frames_of(ds)


def test_h5_round_trip_equals_the_dlc_dataframe(project: Path, tmp_path: Path) -> None:
    src = project / "labeled-data/m4s1/CollectedData_Pranav.h5"
    ds, _ = read_quiet(src)
    out = tmp_path / "labeled-data/m4s1/CollectedData_Pranav.h5"
    write_dlc(ds, out)
    pd.testing.assert_frame_equal(pd.read_hdf(out), pd.read_hdf(src))
    assert out.with_suffix(".csv").read_text() == src.with_suffix(".csv").read_text()
    assert not list(out.parent.glob(".*part"))
    again, _ = read_quiet(out)
    assert frames_of(again) == frames_of(ds)


@pytest.mark.parametrize("name", ["CollectedData_x.csv", "CollectedData_x.h5"])
def test_new_data_uses_three_index_columns(project: Path, tmp_path: Path, name: str) -> None:
    """Without a layout read from DLC, paths are written as DLC >= 2.2 does: 3 columns."""
    ds, _ = read_quiet(project)
    del ds.extras[dlc.META]
    out = tmp_path / "labeled-data/m4s1" / name
    calls: list[int] = []
    write_dlc(ds, out, progress=calls.append)
    assert calls == [116]
    lines = out.with_suffix(".csv").read_text().splitlines()
    assert lines[0].startswith("scorer,,,posemark,posemark,")
    assert lines[3].startswith("labeled-data,m4s1,img0000.png,21.521,265.428,")
    df = pd.read_csv(out.with_suffix(".csv"), header=[0, 1, 2], index_col=[0, 1, 2])
    assert df.shape == (116, 8) and df.index[0] == ("labeled-data", "m4s1", "img0000.png")
    if out.suffix == ".h5":
        assert pd.read_hdf(out).index[1] == ("labeled-data", "m4s1", "img0001.png")
    again, _ = read_quiet(out)
    assert again.images.file_names == ds.images.file_names
    assert frames_of(again) == frames_of(ds)


def test_config_written_when_none_found(project: Path, tmp_path: Path) -> None:
    ds, _ = read_quiet(project)
    write_dlc(ds, tmp_path / "v", scorer="alice")
    assert (tmp_path / "v/CollectedData_alice.csv").read_text().startswith("scorer,alice,")
    cfg = (tmp_path / "v/config.yaml").read_text()
    assert "bodyparts:\n- snout\n- leftear\n- rightear\n- tailbase\n" in cfg
    assert "skeleton: []" in cfg


def test_header_order_without_config() -> None:
    text = "scorer,s,s,s,s\nbodyparts,b,b,a,a\ncoords,x,y,x,y\nimg.png,1,2,,\n"
    ds = dataset_from_table(parse_csv(text, "t.csv"))
    assert ds.categories[0].skeleton.keypoints == ("b", "a")
    assert ds.instance(0).visibility.tolist() == [2, 0]


def test_config_order_and_edges_are_used() -> None:
    text = "scorer,s,s,s,s\nbodyparts,b,b,a,a\ncoords,x,y,x,y\nimg.png,1,2,3,4\n"
    cfg = {"bodyparts": ["a", "b"], "skeleton": [["a", "b"], ["a", "zz"]]}
    problems: list[Problem] = []
    ds = dataset_from_table(parse_csv(text, "t.csv"), cfg, on_warning=problems.append)
    sk = ds.categories[0].skeleton
    assert sk.keypoints == ("a", "b") and sk.edges == ((0, 1),)
    assert ds.instance(0).keypoint("a") == (3.0, 4.0, 2)
    assert [p.field for p in problems] == ["skeleton"]


def test_likelihood_columns_become_scores() -> None:
    text = (
        "scorer,net,net,net\nbodyparts,a,a,a\ncoords,x,y,likelihood\n"
        "img0.png,1.0,2.0,0.75\nimg1.png,,,0.1\n"
    )
    ds = dataset_from_table(parse_csv(text, "t.csv"))
    assert len(ds.instances) == 1 and ds.instance(0).scores.tolist() == [0.75]
    assert dlc.dlc_losses(ds) == ["1 instances carry scores, which labeled data does not keep"]


def test_no_or_duplicate_bodyparts_are_errors() -> None:
    with pytest.raises(FormatError, match=r"t.csv: header: field 'bodyparts': expected at least"):
        dataset_from_table(parse_csv("scorer\nbodyparts\ncoords\nimg.png\n", "t.csv"), file="t.csv")
    text = "scorer,s,s,s,s\nbodyparts,a,a,a,a\ncoords,x,y,x,y\n"
    with pytest.raises(FormatError, match=r"column a/x appears twice"):
        dataset_from_table(parse_csv(text, "t.csv"), file="t.csv")


def test_unrelated_config_yaml_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("model: resnet\n")
    (tmp_path / "CollectedData_s.csv").write_text(
        "scorer,s,s\nbodyparts,a,a\ncoords,x,y\nimg.png,1,2\n"
    )
    ds, problems = read_quiet(tmp_path)
    assert ds.categories[0].skeleton.name == "dlc" and len(ds.instances) == 1
    assert [p.field for p in problems] == ["images"]


# ---------------------------------------------------------------- multi-animal


def make_multi(tmp_path: Path | None = None) -> Dataset:
    """Two mice (tracks m1, m2) over three images, plus one unique body part ('light')."""
    sk = Skeleton("mice", ("nose", "tail"), ((0, 1),))
    usk = Skeleton("mice unique", ("light",))
    mouse, unique = Category(1, "animal", sk), Category(2, "unique bodyparts", usk)
    unique.extras[UNIQUE] = True
    files = [f"labeled-data/v1/img{i:03d}.png" for i in range(3)]
    frames = [Frame(i + 1, f) for i, f in enumerate(files)]
    nan = np.nan
    insts = [
        (1, 1, Instance(sk, [[1.5, 2.0], [3.0, 4.0]], [2, 2], track_id=1)),
        (1, 1, Instance(sk, [[10.0, 20.0], [nan, nan]], [2, 0], track_id=2)),
        (1, 2, Instance(usk, [[7.0, 8.0]], [2])),
        (2, 1, Instance(sk, [[5.0, 6.0], [7.25, 8.0]], [2, 2], track_id=2)),
    ]
    if tmp_path is not None:
        for f in files:
            (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (32, 24)).save(tmp_path / f)
    return Dataset.from_instances(
        [mouse, unique], frames, insts, tracks=[Track(1, "m1"), Track(2, "m2")]
    )


@pytest.mark.parametrize("name", ["CollectedData_me.csv", "CollectedData_me.h5"])
def test_multi_animal_round_trip_keeps_identities(tmp_path: Path, name: str) -> None:
    ds = make_multi(tmp_path)
    out = tmp_path / "labeled-data/v1" / name
    write_dlc(ds, out, scorer="me")
    lines = out.with_suffix(".csv").read_text().splitlines()
    assert lines[:4] == [
        "scorer,,,me,me,me,me,me,me,me,me,me,me",
        "individuals,,,m1,m1,m1,m1,m2,m2,m2,m2,single,single",
        "bodyparts,,,nose,nose,tail,tail,nose,nose,tail,tail,light,light",
        "coords,,,x,y,x,y,x,y,x,y,x,y",
    ]
    assert lines[4] == "labeled-data,v1,img000.png,1.5,2.0,3.0,4.0,10.0,20.0,,,7.0,8.0"
    assert lines[6] == "labeled-data,v1,img002.png,,,,,,,,,,"
    cfg = (out.parent / "config.yaml").read_text()
    assert "individuals:\n- m1\n- m2\n" in cfg and "uniquebodyparts:\n- light\n" in cfg
    again, problems = read_quiet(out)
    assert problems == []
    assert [t.name for t in again.tracks] == ["m1", "m2"]
    assert frames_of(again) == frames_of(ds)
    assert again.images.widths.tolist() == [32, 32, 32]
    assert again.categories[0].skeleton.edges == ((0, 1),)
    assert again.categories[1].extras[UNIQUE]


def test_untracked_instances_take_free_individuals() -> None:
    sk = Skeleton("s", ("a",))
    ds = Dataset.from_instances(
        [Category(1, "animal", sk)],
        [Frame(1, "img.png")],
        [(1, 1, Instance(sk, [[1.0, 2.0]], [2])), (1, 1, Instance(sk, [[3.0, 4.0]], [1]))],
    )
    table = table_from_dataset(ds)
    assert table.columns == [
        ("individual1", "a", "x"), ("individual1", "a", "y"),
        ("individual2", "a", "x"), ("individual2", "a", "y"),
    ]  # fmt: skip
    assert table.values.tolist() == [[1.0, 2.0, 3.0, 4.0]]
    assert dlc.dlc_losses(ds) == [
        "1 occluded keypoints become visible (DeepLabCut has no occluded state)"
    ]


def test_two_instances_of_one_individual_fail_and_write_nothing(tmp_path: Path) -> None:
    sk = Skeleton("s", ("a",))
    ds = Dataset.from_instances(
        [Category(1, "animal", sk)],
        [Frame(1, "img.png")],
        [(1, 1, Instance(sk, [[1.0, 2.0]], [2], track_id=1, id=7)),
         (1, 1, Instance(sk, [[3.0, 4.0]], [2], track_id=1, id=8))],
        tracks=[Track(1, "m1")],
    )  # fmt: skip
    with pytest.raises(FormatError, match=r"instance id 8: field 'track_id': two instances of "
                       r"individual 'm1' in image 'img.png'"):  # fmt: skip
        write_dlc(ds, tmp_path / "out.h5")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- sleap-io reads our files


def test_sleap_io_reads_our_single_animal_csv(project: Path, tmp_path: Path) -> None:
    import sleap_io as sio  # a dependency of posemark: its absence is a failure

    ds, _ = read_quiet(project)
    video = tmp_path / "labeled-data/m4s1"
    video.mkdir(parents=True)
    for png in (project / "labeled-data/m4s1").glob("*.png"):
        shutil.copy(png, video / png.name)
    write_dlc(ds, video / "CollectedData_posemark.csv")
    labels = sio.load_dlc(str(video / "CollectedData_posemark.csv"))
    assert len(labels.labeled_frames) == 116
    names = [n.name for n in labels.skeletons[0].nodes]
    order = [names.index(k) for k in ds.categories[0].skeleton.keypoints]
    got = np.stack([lf.instances[0].numpy()[order] for lf in labels.labeled_frames])
    expected = ds.instances.points
    # sleap-io orders frames by the number in the image name, as img0000..img0115 are
    np.testing.assert_allclose(got, expected)


def test_sleap_io_reads_our_multi_animal_csv(tmp_path: Path) -> None:
    import sleap_io as sio  # a dependency of posemark: its absence is a failure

    ds = make_multi(tmp_path)
    out = tmp_path / "labeled-data/v1/CollectedData_me.csv"
    write_dlc(ds, out)
    labels = sio.load_dlc(str(out))
    # sleap-io has no unique body parts: it reads maDLC's 'single' as one more track
    assert sorted(t.name for t in labels.tracks) == ["m1", "m2", "single"]
    by_track = {
        (lf.frame_idx, inst.track.name): inst.numpy().tolist()
        for lf in labels.labeled_frames
        for inst in lf.instances
        if inst.track is not None and inst.track.name != "single"
    }
    nodes = [n.name for n in labels.skeletons[0].nodes]
    assert by_track[(0, "m1")][nodes.index("nose")] == [1.5, 2.0]
    assert by_track[(1, "m2")][nodes.index("tail")] == [7.25, 8.0]
    assert len(by_track) == 3


# ---------------------------------------------------------------- malformed input


def test_missing_coords_row_names_file_and_row(tmp_path: Path) -> None:
    bad = tmp_path / "CollectedData_x.csv"
    bad.write_text("scorer,s,s\nbodyparts,a,a\nimg.png,1,2\n")
    with pytest.raises(FormatError, match=r"CollectedData_x.csv: row 3: field 'coords': "
                       r"expected the 'coords' header row, found 'img.png'"):  # fmt: skip
        read_dlc(bad)


def test_non_number_names_row_image_and_bodypart(tmp_path: Path) -> None:
    bad = tmp_path / "CollectedData_x.csv"
    bad.write_text(
        "scorer,s,s,s,s\nbodyparts,a,a,b,b\ncoords,x,y,x,y\n"
        "labeled-data/v/i0.png,1,2,3,4\nlabeled-data/v/i1.png,1,2,three,4\n"
    )
    with pytest.raises(FormatError, match=r"CollectedData_x.csv: row 5 \(image labeled-data/v/"
                       r"i1.png\): field 'b x': expected a number, found 'three'"):  # fmt: skip
        read_dlc(bad)


def test_short_row_and_unknown_coord_are_located() -> None:
    with pytest.raises(FormatError, match=r"t.csv: row 4: expected 3 cells, found 2"):
        parse_csv("scorer,s,s\nbodyparts,a,a\ncoords,x,y\nimg.png,1\n", "t.csv")
    with pytest.raises(FormatError, match=r"row 3 \(coords\), column 3: .*found 'z'"):
        parse_csv("scorer,s,s\nbodyparts,a,a\ncoords,x,z\n", "t.csv")


# ---------------------------------------------------------------- atomic writes


def test_failed_h5_write_leaves_nothing(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds, _ = read_quiet(project)

    def boom(table: DlcTable, path: Path) -> None:
        path.write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(dlc, "_write_h5", boom)
    with pytest.raises(OSError, match="disk full"):
        write_dlc(ds, tmp_path / "CollectedData_x.h5")
    assert list(tmp_path.iterdir()) == []


def test_overwrite_is_atomic(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds, _ = read_quiet(project)
    out = tmp_path / "CollectedData_x.csv"
    out.write_text("old")

    def boom(table: DlcTable) -> str:
        raise RuntimeError("formatting failed")

    monkeypatch.setattr(dlc, "format_csv", boom)
    with pytest.raises(RuntimeError):
        write_dlc(ds, out)
    assert out.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == [out.name]


# ---------------------------------------------------------------- spec


def test_sniff_and_losses(project: Path, tmp_path: Path) -> None:
    assert SPEC.sniff(project / "labeled-data/m4s1/CollectedData_Pranav.csv")
    assert SPEC.sniff(project / "labeled-data/m4s1/CollectedData_Pranav.h5")
    assert SPEC.sniff(project) and SPEC.sniff(project / "labeled-data/m4s1")
    other = tmp_path / "x.csv"
    other.write_text("a,b\n1,2\n")
    assert not SPEC.sniff(other)
    ds = make_multi()
    ds.instances.bbox[0] = [0, 0, 1, 1]
    ds.instances.visibility[1] = 0
    assert dlc.dlc_losses(ds) == [
        "1 instances have no labeled keypoint; DeepLabCut has no cell for them, so they "
        "are left out",
        "1 instances carry bounding boxes, which DeepLabCut does not keep",
    ]


# ---------------------------------------------------------------- property: single animal

NAMES = st.lists(
    st.text(alphabet="abcdefghij_", min_size=1, max_size=5), min_size=1, max_size=5, unique=True
)
COORD = st.floats(-1e4, 1e4, allow_nan=False, width=64)


@st.composite
def single_animal(draw: st.DrawFn) -> Dataset:
    names = draw(NAMES)
    k = len(names)
    sk = Skeleton("s", tuple(names))
    n = draw(st.integers(0, 5))
    frames = [Frame(i + 1, f"labeled-data/v/img{i}.png") for i in range(n)]
    insts = []
    for i in range(n):
        vis = draw(st.lists(st.sampled_from([0, 2]), min_size=k, max_size=k))
        if not any(vis):
            continue
        pts = [[draw(COORD), draw(COORD)] if v else [np.nan, np.nan] for v in vis]
        insts.append((i + 1, 1, Instance(sk, pts, vis)))
    return Dataset.from_instances([Category(1, "animal", sk)], frames, insts)


@settings(max_examples=60, deadline=None)
@given(single_animal())
def test_single_animal_round_trip(ds: Dataset) -> None:
    text = format_csv(table_from_dataset(ds))
    back = dataset_from_table(parse_csv(text, "t.csv"))
    assert frames_of(back) == frames_of(ds)
    assert back.categories[0].skeleton.keypoints == ds.categories[0].skeleton.keypoints
    assert back.tracks == []
