"""PoseTrack 18: per-video files and merged files round trip; tracks, head boxes, ignore
regions kept; the posetrack17 skeleton; tracking metrics on PoseTrack's PCKh rule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posemark import formats
from posemark.formats.posetrack import (
    add_posetrack_fields,
    frame_number,
    read_posetrack,
    sniff_posetrack,
    write_posetrack,
)
from posemark.metrics.tracking import frame_poses, tracking_metrics
from posemark.schemas import load_builtin

ROOT = "posetrack/mmpose_posetrack18/annotations"


def load(path: Path) -> object:
    return json.loads(path.read_text())


@pytest.mark.parametrize(
    "name",
    [
        "test_posetrack18_val.json",
        "val/003418_mpii_test.json",
        "val/009473_mpii_test.json",
        "val/012834_mpii_test.json",
    ],
)
def test_file_round_trip_equal_as_parsed_json(testdata: Path, tmp_path: Path, name: str) -> None:
    src = testdata / ROOT / name
    out = tmp_path / "out.json"
    write_posetrack(read_posetrack(src), out)
    assert load(out) == load(src)


def test_folder_of_videos_reads_as_one_dataset_and_writes_back_per_video(
    testdata: Path, tmp_path: Path
) -> None:
    folder = testdata / ROOT / "val"
    dataset = read_posetrack(folder)
    assert len(dataset.images) == 3 and len(dataset.instances) == 14
    assert sorted({dataset.images.row_extras(i)["vid_id"] for i in range(3)}) == [
        "003418",
        "009473",
        "012834",
    ]
    out = tmp_path / "videos"
    write_posetrack(dataset, out)
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(p.name for p in folder.glob("*.json"))
    for name in written:
        assert load(out / name) == load(folder / name)
    # the merged file holds the same annotations as the per-video files together
    merged = load(testdata / ROOT / "test_posetrack18_val.json")
    ours = [a for p in sorted(folder.glob("*.json")) for a in load(p)["annotations"]]
    assert sorted(ours, key=lambda a: a["id"]) == sorted(
        merged["annotations"], key=lambda a: a["id"]
    )


def test_posetrack_fields_are_kept(testdata: Path) -> None:
    dataset = read_posetrack(testdata / ROOT / "test_posetrack18_val.json")
    frame = dataset.images.row_extras(0)
    assert {"vid_id", "frame_id", "nframes", "is_labeled", "ignore_regions_x"} <= set(frame)
    first = dataset.instance(0)
    assert first.track_id == 0 and first.extras["bbox_head"] == [378, 503, 44, 53]
    assert dataset.categories[0].skeleton.sigmas == load_builtin("posetrack17").sigmas
    assert load_builtin("posetrack").keypoints[1:3] == ("head_bottom", "head_top")


def test_sniffing_and_registry(testdata: Path) -> None:
    assert sniff_posetrack(testdata / ROOT / "test_posetrack18_val.json")
    assert sniff_posetrack(testdata / ROOT / "val")
    assert not sniff_posetrack(testdata / "coco/mmpose_coco/test_coco.json")
    assert formats.get_format("posetrack").read is read_posetrack
    assert formats.format_for_extension("x.posetrack.json").name == "posetrack"


def test_fields_added_for_tracker_output_without_overwriting(testdata: Path) -> None:
    dataset = read_posetrack(testdata / ROOT / "val/009473_mpii_test.json")
    before = dataset.images.row_extras(0)
    add_posetrack_fields(dataset, "999999", [0], 10)
    assert dataset.images.row_extras(0) == before  # a PoseTrack file keeps its fields
    dataset.images.extras[0] = {}
    add_posetrack_fields(dataset, "009473", [7], 101)
    assert dataset.images.row_extras(0) == {
        "vid_id": "009473",
        "frame_id": 10094730007,
        "nframes": 101,
        "is_labeled": True,
    }
    assert frame_number("images/val/009473_mpii_test/000042.jpg") == 42


def test_tracking_metrics_on_posetrack_with_head_boxes(testdata: Path) -> None:
    dataset = read_posetrack(testdata / ROOT / "test_posetrack18_val.json")
    names = list(dataset.categories[0].skeleton.keypoints)
    gt = frame_poses(dataset, rule="pckh")
    assert all(np.isfinite(fp.scales).all() for fp in gt.values())
    perfect = tracking_metrics(gt, gt, names, rule="pckh")
    assert perfect.total.mota == 1.0 and perfect.total.idf1 == 1.0
    labeled = int((dataset.instances.visibility > 0).sum())
    assert perfect.total.num_objects == labeled
    shifted = frame_poses(dataset, rule="pckh")
    for fp in shifted.values():  # far from everyone
        fp.points = fp.points + np.array([5000.0, 0.0])
    worse = tracking_metrics(gt, shifted, names, rule="pckh")
    assert worse.total.num_misses == labeled and worse.total.mota == -1.0
