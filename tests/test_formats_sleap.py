"""SLEAP .slp through sleap-io: counts, coordinates against sleap-io's own arrays, and
.slp -> posemark -> .slp round trips on the sleap-io.js samples (foreign video paths)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sleap_io as sio
from hypothesis import given, settings
from hypothesis import strategies as st

from posemark.formats.errors import FormatError
from posemark.formats.sleap import (
    SPEC,
    dataset_to_labels,
    labels_to_dataset,
    read_sleap,
    sleap_losses,
    sniff_sleap,
    write_sleap,
)
from posemark.model.visibility import Source

SAMPLES = (
    "centered_pair_predictions.slp",
    "labels.v002.slp",
    "minimal_instance.slp",
    "predictions_1.2.7_provenance_and_tracking.slp",
    "typical.slp",
)


@pytest.fixture(scope="module")
def slp_dir(testdata: Path) -> Path:
    """sleap-io.js samples; their video paths point at other machines (C:/, /Users/)."""
    return testdata / "sleap" / "sleap-io.js" / "slp"


@pytest.fixture(scope="module")
def centered_pair(slp_dir: Path):  # type: ignore[no-untyped-def]
    """1100 frames of two tracked flies, predictions only; its video is in ../videos."""
    return read_sleap(slp_dir / "centered_pair_predictions.slp")


def test_spec() -> None:
    assert SPEC.name == "sleap"
    assert SPEC.extensions == (".slp",)
    assert "occluded" in SPEC.what_it_loses


def test_centered_pair_counts(centered_pair) -> None:  # type: ignore[no-untyped-def]
    ds = centered_pair
    assert len(ds.images) == 1100
    assert len(ds.instances) == 2274
    assert len(ds.tracks) == 27
    assert len(ds.categories) == 1
    sk = ds.categories[0].skeleton
    assert sk.num_keypoints == 24
    assert len(sk.edges) == 23
    assert len(sk.flip_pairs) == 10
    assert (ds.instances.source == int(Source.MODEL)).all()
    assert not ds.instances.confirmed.any()
    # the video is found beside the samples (videos/...), so frame sizes are known
    assert set(ds.images.widths.tolist()) == {384}
    assert set(ds.images.heights.tolist()) == {384}
    assert ds.images.row_extras(0) == {
        "video": "tests/data/videos/centered_pair_low_quality.mp4",
        "frame_index": 0,
    }


def test_coordinates_and_scores_match_sleap_io(slp_dir: Path, centered_pair) -> None:  # type: ignore[no-untyped-def]
    labels = sio.load_slp(str(slp_dir / "centered_pair_predictions.slp"), open_videos=False)
    insts = [inst for lf in labels.labeled_frames for inst in lf.instances]
    t = centered_pair.instances
    for row in (0, 1, 500, 2273):
        np.testing.assert_array_equal(t.points[row], insts[row].numpy())
        np.testing.assert_array_equal(t.scores[row], insts[row].points["score"])
        assert t.score[row] == pytest.approx(insts[row].score)
        assert centered_pair.tracks[t.track_ids[row] - 1].name == insts[row].track.name
    assert t.points[0, 0].tolist() == [201.0, 186.0]


def test_foreign_video_paths_are_kept_and_sizes_unknown(slp_dir: Path) -> None:
    ds = read_sleap(slp_dir / "typical.slp")
    assert ds.images.row_extras(0)["video"] == (
        "C:/sleap/sleap/tests/data/json_format_v1/centered_pair_low_quality.mp4"
    )
    assert ds.images.frame(0).width is None
    assert [tr.name for tr in ds.tracks] == ["1", "2"]
    sources = ds.instances.source.tolist()
    assert sources == [int(Source.HUMAN), int(Source.HUMAN), int(Source.MODEL)]


@pytest.mark.parametrize("name", SAMPLES)
def test_round_trip(slp_dir: Path, tmp_path: Path, name: str) -> None:
    original = sio.load_slp(str(slp_dir / name), open_videos=False)
    ds = read_sleap(slp_dir / name)
    out = tmp_path / name
    write_sleap(ds, out)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temp file left behind
    back = sio.load_slp(str(out), open_videos=False)
    assert len(back.labeled_frames) == len(original.labeled_frames)
    assert [t.name for t in back.tracks] == [t.name for t in original.tracks]
    assert [v.filename for v in back.videos] == [v.filename for v in original.videos]
    for s0, s1 in zip(original.skeletons, back.skeletons, strict=True):
        assert s0.node_names == s1.node_names
        assert s0.edge_inds == s1.edge_inds
        assert {frozenset(n.name for n in s.nodes) for s in s0.symmetries} == {
            frozenset(n.name for n in s.nodes) for s in s1.symmetries
        }
    for lf0, lf1 in zip(original.labeled_frames, back.labeled_frames, strict=True):
        assert lf0.frame_idx == lf1.frame_idx
        assert len(lf0.instances) == len(lf1.instances)
        for i0, i1 in zip(lf0.instances, lf1.instances, strict=True):
            assert type(i0) is type(i1)
            np.testing.assert_array_equal(i0.numpy(), i1.numpy())
            assert (i0.track.name if i0.track else None) == (i1.track.name if i1.track else None)
            if isinstance(i0, sio.PredictedInstance):
                assert i1.score == pytest.approx(i0.score)
                np.testing.assert_array_equal(i0.points["score"], i1.points["score"])


def test_occluded_written_visible_and_counted(slp_dir: Path, tmp_path: Path) -> None:
    ds = read_sleap(slp_dir / "minimal_instance.slp")
    assert sleap_losses(ds) == []
    ds.instances.visibility[0, 1] = 1
    ds.instances.bbox[1] = [1, 2, 3, 4]
    assert sleap_losses(ds) == [
        "1 keypoints are occluded (v 1); SLEAP has no occluded state, so they are written "
        "as visible",
        "1 instances carry bounding boxes, which SLEAP does not keep",
    ]
    write_sleap(ds, tmp_path / "o.slp")
    back = read_sleap(tmp_path / "o.slp")
    assert back.instances.visibility[0].tolist() == [2, 2]


def test_not_labeled_points_are_nan(slp_dir: Path) -> None:
    ds = read_sleap(slp_dir / "minimal_instance.slp")
    ds.instances.visibility[0, 0] = 0
    ds.instances.points[0, 0] = np.nan
    labels = dataset_to_labels(ds)
    inst = labels.labeled_frames[0].instances[0]
    assert inst.points["visible"].tolist() == [False, True]
    again = labels_to_dataset(labels)
    assert again.instances.visibility[0].tolist() == [0, 2]
    assert np.isnan(again.instances.points[0, 0]).all()


def test_images_without_video_become_an_image_list(slp_dir: Path) -> None:
    ds = read_sleap(slp_dir / "minimal_instance.slp")
    ds.images.extras.clear()
    ds.images.file_names[0] = "img/a.png"
    labels = dataset_to_labels(ds)
    assert labels.videos[0].filename == ["img/a.png"]
    assert labels_to_dataset(labels).images.file_names == ["img/a.png"]


def test_failed_write_leaves_nothing(slp_dir: Path, tmp_path: Path) -> None:
    ds = read_sleap(slp_dir / "minimal_instance.slp")
    ds.instances.image_ids[0] = 99
    with pytest.raises(FormatError, match=r"o\.slp: instance id 1: image_id 99 has no frame"):
        write_sleap(ds, tmp_path / "o.slp")
    assert list(tmp_path.iterdir()) == []


def test_bad_file_is_a_located_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.slp"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(FormatError, match=r"bad\.slp: cannot read as SLEAP \.slp"):
        read_sleap(bad)
    with pytest.raises(FormatError, match=r"missing\.slp: no such SLEAP \.slp file"):
        read_sleap(tmp_path / "missing.slp")


def test_sniff(slp_dir: Path, testdata: Path, tmp_path: Path) -> None:
    assert sniff_sleap(slp_dir / "typical.slp")
    renamed = tmp_path / "labels.h5"
    renamed.write_bytes((slp_dir / "typical.slp").read_bytes())
    assert sniff_sleap(renamed)  # content, not the name
    assert not sniff_sleap(testdata / "coco" / "mmpose_coco" / "test_coco.json")


def test_coco_to_sleap_counts_losses_and_keeps_points(testdata: Path, tmp_path: Path) -> None:
    from posemark.formats.coco_io import read_coco

    ds = read_coco(testdata / "coco" / "mmpose_coco" / "test_coco.json")
    losses = sleap_losses(ds)
    assert losses[0].startswith("17 keypoints are occluded (v 1)")
    assert losses[1] == "14 instances carry bounding boxes, which SLEAP does not keep"
    write_sleap(ds, tmp_path / "coco.slp")
    back = read_sleap(tmp_path / "coco.slp")
    assert back.images.file_names == ds.images.file_names
    assert back.categories[0].name == "person"
    assert back.categories[0].skeleton.edges == ds.categories[0].skeleton.edges
    labeled = ds.instances.visibility > 0
    np.testing.assert_array_equal(back.instances.visibility > 0, labeled)
    np.testing.assert_array_equal(back.instances.points[labeled], ds.instances.points[labeled])


# ---------------------------------------------------------------- generated data


def _generated(draw: Any) -> Any:
    from posemark.model import Category, Dataset, Frame, Instance, Skeleton, Track

    k = draw(st.integers(1, 5))
    skeleton = Skeleton("animal", tuple(f"n{i}" for i in range(k)))
    n_frames = draw(st.integers(1, 3))
    frames = [
        Frame(id=i + 1, file_name=f"clip.mp4#{i}", extras={"video": "clip.mp4", "frame_index": i})
        for i in range(n_frames)
    ]
    tracks = [Track(1, "a"), Track(2, "b")]
    coord = st.floats(0, 500, allow_nan=False).map(lambda v: round(v, 2))
    rows = []
    for frame in frames:
        for j in range(draw(st.integers(0, 2))):
            points = np.array([[draw(coord), draw(coord)] for _ in range(k)])
            vis = np.array([draw(st.sampled_from([0, 2])) for _ in range(k)], dtype=np.uint8)
            vis[0] = 2  # SLEAP keeps no instance without a visible point
            points[vis == 0] = np.nan
            inst = Instance(skeleton, points, vis, track_id=j + 1)
            rows.append((frame.id, 1, inst))
    return Dataset.from_instances([Category(1, "animal", skeleton)], frames, rows, tracks)


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_generated_datasets_round_trip_through_slp(data: Any) -> None:
    import tempfile

    source = _generated(data.draw)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "gen.slp"
        write_sleap(source, out)
        back = read_sleap(out)
    assert len(back.instances) == len(source.instances)
    for a in range(len(source.instances)):
        want, got = source.instance(a), back.instance(a)
        np.testing.assert_array_equal(got.visibility, want.visibility)
        np.testing.assert_allclose(got.points, want.points, atol=1e-4, equal_nan=True)
        assert got.track_id == want.track_id
