"""CVAT for video 1.1: skeleton tracks, keyframes, outside; write -> read -> write."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from posemark import formats
from posemark.formats.cvat_video import read_cvat_video, write_cvat_video
from posemark.formats.errors import FormatError
from posemark.formats.sleap import read_sleap
from posemark.model import Dataset
from posemark.model.dataset import Category, FrameTable, InstanceTable
from posemark.model.visibility import Source

N_FRAMES = 30


def same_dataset(a: Dataset, b: Dataset) -> None:
    assert [(c.name, c.skeleton.keypoints, c.skeleton.edges) for c in a.categories] == [
        (c.name, c.skeleton.keypoints, c.skeleton.edges) for c in b.categories
    ]
    assert a.images.ids.tolist() == b.images.ids.tolist()
    assert a.images.file_names == b.images.file_names
    assert a.images.widths.tolist() == b.images.widths.tolist()
    assert len(a.instances) == len(b.instances)
    for i in range(len(a.instances)):
        assert a.instance(i) == b.instance(i), i


@pytest.fixture(scope="module")
def tracked(testdata: Path) -> Dataset:
    """30 frames of the SLEAP fly pair as a CVAT-style video dataset: keyframes every 5th
    frame, interpolated frames between, an occluded leg, and track 2 absent on 10..14."""
    src = read_sleap(testdata / "sleap/sleap-io.js/slp/centered_pair_predictions.slp")
    frame_of = {
        int(i): int(src.images.row_extras(r)["frame_index"]) for r, i in enumerate(src.images.ids)
    }
    t = src.instances
    rows = [
        r
        for r in range(len(t))
        if t.track_ids[r] in (1, 2)
        and frame_of[int(t.image_ids[r])] < N_FRAMES
        and not (t.track_ids[r] == 2 and 10 <= frame_of[int(t.image_ids[r])] < 15)
    ]
    table = t.take(np.array(rows))
    frames = np.array([frame_of[int(i)] for i in table.image_ids])
    table.image_ids = frames
    table.points = np.round(table.points, 2)
    table.visibility[table.track_ids == 1, 3] = 1  # occluded
    table.points[table.visibility == 0] = np.nan
    table.source[:] = np.where(frames % 5 == 0, int(Source.HUMAN), int(Source.INTERPOLATED))
    table.score[:] = np.nan
    table.confirmed[:] = True  # CVAT has no confirmed flag
    table.scores = None
    table.ids = np.arange(1, len(rows) + 1)
    order = np.lexsort((table.track_ids, frames))
    table = table.take(order)
    table.ids = np.arange(1, len(rows) + 1)
    cat = src.categories[0]  # CVAT keeps no flip pairs (SLEAP's symmetries)
    cat = Category(cat.id, cat.name, dataclasses.replace(cat.skeleton, flip_pairs=()))
    images = FrameTable(
        ids=np.arange(N_FRAMES),
        file_names=[f"frame_{i:06d}" for i in range(N_FRAMES)],
        widths=np.full(N_FRAMES, 384),
        heights=np.full(N_FRAMES, 384),
        extra_columns={"frame_index": list(range(N_FRAMES))},
    )
    columns = {f: getattr(table, f) for f in table.__dataclass_fields__}
    return Dataset([cat], images, InstanceTable(**columns), tracks=src.tracks[:2])


def test_write_read_is_identical_and_rewrite_is_byte_identical(
    tracked: Dataset, tmp_path: Path
) -> None:
    first = tmp_path / "a.xml"
    write_cvat_video(tracked, first)
    back = read_cvat_video(first)
    same_dataset(tracked, back)
    assert sorted(t.id for t in back.tracks) == [1, 2]
    second = tmp_path / "b.xml"
    write_cvat_video(back, second)
    assert first.read_bytes() == second.read_bytes()


def test_written_file_follows_cvat(tracked: Dataset, tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    path = tmp_path / "a.xml"
    write_cvat_video(tracked, path)
    root = ET.parse(path).getroot()
    assert root.findtext("meta/task/mode") == "interpolation"
    assert root.findtext("meta/task/original_size/width") == "384"
    track2 = next(t for t in root.findall("track") if t.get("id") == "2")
    shapes = {int(s.get("frame")): s for s in track2.findall("skeleton")}
    ends = shapes[10]  # the frame after the stretch 0..9: all keypoints outside
    assert ends.get("keyframe") == "1"
    assert {p.get("outside") for p in ends.findall("points")} == {"1"}
    assert 11 not in shapes and shapes[15].get("keyframe") == "1"
    assert shapes[16].get("keyframe") == "0"
    assert N_FRAMES not in shapes  # tracks reaching the last frame need no end marker


KEYFRAMES_ONLY = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta><task><size>20</size><mode>interpolation</mode>
    <start_frame>0</start_frame><stop_frame>19</stop_frame>
    <labels>
      <label><name>person</name><type>skeleton</type>
        <svg>&lt;line data-node-from="1" data-node-to="2"&gt;&lt;/line&gt;</svg></label>
      <label><name>a</name><type>points</type><parent>person</parent></label>
      <label><name>b</name><type>points</type><parent>person</parent></label>
      <label><name>c</name><type>points</type><parent>person</parent></label>
    </labels>
    <original_size><width>640</width><height>480</height></original_size>
  </task></meta>
  <track id="7" label="person" source="manual">
    <skeleton frame="0" keyframe="1" z_order="0">
      <points label="a" keyframe="1" outside="0" occluded="0" points="0,0"/>
      <points label="b" keyframe="1" outside="0" occluded="1" points="100,100"/>
      <points label="c" keyframe="1" outside="1" occluded="0" points="5,5"/>
    </skeleton>
    <skeleton frame="10" keyframe="1" z_order="0">
      <points label="a" keyframe="1" outside="0" occluded="0" points="10,20"/>
      <points label="b" keyframe="1" outside="1" occluded="0" points="0,0"/>
      <points label="c" keyframe="1" outside="0" occluded="0" points="50,50"/>
    </skeleton>
    <skeleton frame="15" keyframe="1" z_order="0">
      <points label="a" keyframe="1" outside="1" occluded="0" points="10,20"/>
      <points label="b" keyframe="1" outside="1" occluded="0" points="0,0"/>
      <points label="c" keyframe="1" outside="1" occluded="0" points="50,50"/>
    </skeleton>
    <skeleton frame="18" keyframe="1" z_order="0">
      <points label="a" keyframe="1" outside="0" occluded="0" points="1,2"/>
      <points label="b" keyframe="1" outside="0" occluded="0" points="3,4"/>
      <points label="c" keyframe="1" outside="0" occluded="0" points="5,6"/>
    </skeleton>
  </track>
  <track id="8" label="person bbox" source="manual">
    <box frame="0" keyframe="1" outside="0" occluded="0"
         xtl="1" ytl="1" xbr="2" ybr="2" z_order="0"/>
  </track>
</annotations>
"""


def test_keyframes_only_file_is_filled_in_like_cvat(tmp_path: Path) -> None:
    path = tmp_path / "keys.xml"
    path.write_text(KEYFRAMES_ONLY)
    problems: list = []
    ds = read_cvat_video(path, on_warning=problems.append)
    assert any("1 track(s)" in p.message for p in problems)  # the box track
    t = ds.instances
    frames = t.image_ids.tolist()
    assert frames == [*range(15), 18, 19]  # ends at 15 (outside), back at 18 to the end
    assert set(t.track_ids.tolist()) == {7}
    inst = {f: ds.instance(i) for i, f in enumerate(frames)}
    assert inst[5].points[0].tolist() == [5.0, 10.0]  # linear
    assert inst[5].visibility.tolist() == [2, 1, 0]  # b held (outside later), c outside earlier
    assert inst[5].points[1].tolist() == [100.0, 100.0]
    assert inst[12].points[0].tolist() == [10.0, 20.0]  # held after 10 until the end at 15
    assert inst[12].visibility.tolist() == [2, 0, 2]
    assert inst[0].source == Source.HUMAN and inst[5].source == Source.INTERPOLATED
    assert inst[19].points[2].tolist() == [5.0, 6.0] and inst[19].source == Source.INTERPOLATED
    assert ds.images.widths[0] == 640 and len(ds.images) == 20
    assert ds.categories[0].skeleton.edges == ((0, 1),)


def test_detection_keeps_cvat_for_images_apart(testdata: Path, tmp_path: Path) -> None:
    path = tmp_path / "keys.xml"
    path.write_text(KEYFRAMES_ONLY)
    assert formats.detect_format(path).name == "cvat-video"
    images = testdata / "cvat/datumaro_cvat_for_images/train.xml"
    assert formats.detect_format(images).name == "cvat"
    assert formats.format_for_extension("x.cvat-video.xml").name == "cvat-video"


def test_bad_files_name_the_track(tmp_path: Path) -> None:
    path = tmp_path / "dup.xml"
    path.write_text(KEYFRAMES_ONLY.replace('frame="10"', 'frame="0"'))
    with pytest.raises(FormatError, match=r"track id 7.*two shapes on frame"):
        read_cvat_video(path)
    path.write_text(KEYFRAMES_ONLY.replace('frame="18"', 'frame="25"'))
    with pytest.raises(FormatError, match="outside the task"):
        read_cvat_video(path)
    path.write_text("<annotations><version>1.1")
    with pytest.raises(FormatError, match="invalid XML"):
        read_cvat_video(path)


def test_posetrack_video_converts_and_several_videos_are_refused(
    testdata: Path, tmp_path: Path
) -> None:
    from posemark.formats.posetrack import read_posetrack

    root = testdata / "posetrack/mmpose_posetrack18/annotations/val"
    one = read_posetrack(root / "009473_mpii_test.json")
    out = tmp_path / "one.xml"
    write_cvat_video(one, out)  # frame_id 10094730000 is an id; the file name gives 0
    back = read_cvat_video(out)
    assert len(back.images) == 1 and back.instances.track_ids.tolist() == [0, 1]
    assert np.allclose(
        back.instances.points[back.instances.visibility > 0],
        np.round(one.instances.points[one.instances.visibility > 0], 2),
    )
    with pytest.raises(FormatError, match="one video"):
        write_cvat_video(read_posetrack(root), tmp_path / "all.xml")
    assert not (tmp_path / "all.xml").exists()
