"""Files the reference readers accept are read, with a located warning, and written back.

Sources of the cases:

* COCO, fewer keypoints than the category names, with and without a longer
  ``keypoints_<K>`` array beside ``keypoints``: the real mmpose sample
  (``coco/mmpose_coco/test_coco.json``) whose category gets three more names (neck,
  head_top, pelvis), as datasets that keep COCO-17 ``keypoints`` for COCO tools do;
  pycocotools (the reference reader) loads and evaluates both.
* CVAT for video with ``start_frame`` > 0 and ``frame_filter`` ``step=3``: written from
  CVAT's XML format documentation (docs.cvat.ai, "XML annotation format", version 1.1,
  interpolation mode) and CVAT's task data options (``start_frame``, ``stop_frame``,
  ``frame_filter``: "The only supported syntax is: step=N"); frames carry their number
  in the video.
"""

from __future__ import annotations

import contextlib
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools.coco import COCO

from posemark.formats.coco_io import read_coco, write_coco
from posemark.formats.cvat_video import read_cvat_video, write_cvat_video
from posemark.formats.errors import FormatError, Problem

MMPOSE_COCO = "coco/mmpose_coco/test_coco.json"
EXTRA = ["neck", "head_top", "pelvis"]


def longer_skeleton(testdata: Path, with_array: bool) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((testdata / MMPOSE_COCO).read_text())
    doc["categories"][0]["keypoints"] += EXTRA
    if with_array:
        for n, ann in enumerate(doc["annotations"]):
            ann["keypoints_20"] = ann["keypoints"] + [n, n + 1, 2, 5, 6, 1, 0, 0, 0]
    return doc


@pytest.mark.parametrize("with_array", [True, False], ids=["keypoints_20", "short"])
def test_coco_with_more_names_than_keypoints(
    testdata: Path, tmp_path: Path, with_array: bool
) -> None:
    doc = longer_skeleton(testdata, with_array)
    src = tmp_path / "in.json"
    src.write_text(json.dumps(doc))
    with contextlib.redirect_stdout(io.StringIO()):
        COCO(str(src))  # the reference reader accepts it
    warnings: list[Problem] = []
    dataset = read_coco(src, on_warning=warnings.append)
    (w,) = [p for p in warnings if p.field == "keypoints"]
    assert (w.file, w.record) == (str(src), f"annotation id {doc['annotations'][0]['id']}")
    assert ("'keypoints_20'" in w.message) == with_array
    assert dataset.categories[0].skeleton.num_keypoints == 20
    t = dataset.instances
    if with_array:  # the longer array is the instance; 'keypoints' stays as it was
        assert t.visibility[1, 17:].tolist() == [2, 1, 0]
        assert t.points[1, 17].tolist() == [1.0, 2.0]
    else:
        assert (t.visibility[:, 17:] == 0).all()
        assert np.array_equal(t.keypoint_count, np.full(len(t), 17))
    write_coco(dataset, tmp_path / "out.json")
    assert json.loads((tmp_path / "out.json").read_text()) == doc


def test_more_keypoint_values_than_names_is_still_an_error(testdata: Path, tmp_path: Path) -> None:
    doc = json.loads((testdata / MMPOSE_COCO).read_text())
    doc["annotations"][0]["keypoints"] += [1, 1, 2]
    src = tmp_path / "in.json"
    src.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match=r"expected 51 values .* found 54"):
        read_coco(src)


STEPPED = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta><task><id>4</id><name>walk</name><size>5</size><mode>interpolation</mode>
    <start_frame>10</start_frame><stop_frame>22</stop_frame>
    <frame_filter>step=3</frame_filter>
    <labels>
      <label><name>person</name><type>skeleton</type>
        <svg>&lt;line data-node-from="1" data-node-to="2"&gt;&lt;/line&gt;</svg></label>
      <label><name>head</name><type>points</type><parent>person</parent></label>
      <label><name>foot</name><type>points</type><parent>person</parent></label>
    </labels>
    <original_size><width>640</width><height>480</height></original_size>
  </task></meta>
  <track id="0" label="person" source="manual">
    <skeleton frame="10" keyframe="1" z_order="0">
      <points label="head" keyframe="1" outside="0" occluded="0" points="100.00,50.00"/>
      <points label="foot" keyframe="1" outside="0" occluded="0" points="100.00,250.00"/>
    </skeleton>
    <skeleton frame="16" keyframe="1" z_order="0">
      <points label="head" keyframe="1" outside="0" occluded="0" points="160.00,50.00"/>
      <points label="foot" keyframe="1" outside="0" occluded="1" points="160.00,250.00"/>
    </skeleton>
    <skeleton frame="19" keyframe="1" z_order="0">
      <points label="head" keyframe="1" outside="1" occluded="0" points="160.00,50.00"/>
      <points label="foot" keyframe="1" outside="1" occluded="0" points="160.00,250.00"/>
    </skeleton>
  </track>
</annotations>
"""


def test_cvat_video_with_a_later_start_and_a_frame_step(tmp_path: Path) -> None:
    src = tmp_path / "walk.xml"
    src.write_text(STEPPED)
    dataset = read_cvat_video(src)
    frames = dataset.images
    assert frames.extra_columns["frame_index"] == [10, 13, 16, 19, 22]
    t = dataset.instances
    on = {frames.extra_columns["frame_index"][int(i)]: row for row, i in enumerate(t.image_ids)}
    assert sorted(on) == [10, 13, 16]  # 13 interpolated between the keyframes 10 and 16
    assert t.points[on[13], 0].tolist() == [130.0, 50.0]
    out = tmp_path / "out.xml"
    write_cvat_video(dataset, out)
    root = ET.parse(out).getroot()
    task = root.find("meta/task")
    assert task is not None
    assert [task.findtext(t) for t in ("start_frame", "stop_frame", "frame_filter")] == [
        "10",
        "22",
        "step=3",
    ]
    shapes = {int(s.get("frame", -1)): s.get("keyframe") for s in root.iter("skeleton")}
    assert shapes == {10: "1", 13: "0", 16: "1", 19: "1"}  # 19: the track ends there
    again = read_cvat_video(out)
    assert again.images.extra_columns == frames.extra_columns
    assert np.array_equal(again.instances.points, t.points, equal_nan=True)


def test_cvat_video_frame_off_the_step_is_located(tmp_path: Path) -> None:
    src = tmp_path / "walk.xml"
    src.write_text(STEPPED.replace('frame="16"', 'frame="17"'))
    with pytest.raises(FormatError, match=r"frame 17 is not a frame of the task \(frames 10..22"):
        read_cvat_video(src)
