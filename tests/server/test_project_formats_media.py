"""CVAT for video and Label Studio files into a project and out again, with media made in
the test (../shared/testdata has no video task nor Label Studio export with its media).

The CVAT for video task is written here the way CVAT exports one (every frame of a
track, interpolated frames ``keyframe="0"``, an all-outside keyframe ending a track
before the task's end; ``<source>`` names the video), beside the video it names; the
project takes it as that video's frames, and its export must be the same document,
parsed: labels, task meta, tracks with their frames, keyframes, outside and occluded
flags and positions (an outside point's position is not kept: posemark holds no
position for a keypoint that is not there). Label Studio comes back as ``posemark
convert``'s round trip through COCO gives it, and sleap-io's Label Studio reader (the
peer's) reads the same people from the export as from the original.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sleap_io as sio
from PIL import Image
from serverkit import Server
from test_project_formats import convert_round_trip, export, new_project, people

from posemark.formats import get_format
from posemark.services.errors import BadInput
from posemark.services.file_skeleton import create_project_from_file
from posemark.services.import_formats import read_other
from posemark.services.importing import import_path
from posemark.services.media import project_root
from posemark.store.models import Item
from posemark.store.video_models import Video
from videogen import write_video

KEYPOINTS = ("head", "left_hand", "right_hand")
W, H = 256, 192


def _point(name: str, key: str, x: float, y: float, state: str = "") -> str:
    outside = "1" if state == "outside" else "0"
    occluded = "1" if state == "occluded" else "0"
    return (
        f'      <points label="{name}" keyframe="{key}" outside="{outside}" '
        f'occluded="{occluded}" points="{x:.2f},{y:.2f}"/>'
    )


def _shape(frame: int, key: str, base: float, states: dict[str, str] | None = None) -> str:
    states = states or {}
    points = [
        _point(n, key, base + 10 * j, 40.0 + 5 * j + frame, states.get(n, ""))
        for j, n in enumerate(KEYPOINTS)
    ]
    return "\n".join(
        [f'    <skeleton frame="{frame}" keyframe="{key}" z_order="0">', *points, "    </skeleton>"]
    )


def cvat_task(video: str, frames: int) -> str:
    """Two tracks: track 0 on frames 0-3 (frame 1 interpolated, frame 2 with an occluded
    and an outside hand) ended by an outside keyframe on 4; track 1 (a model's) on 3 to
    the task's end."""
    labels = [
        "      <label><name>person</name><type>skeleton</type><attributes/>"
        '<svg>&lt;line data-type="edge" data-node-from="1" data-node-to="2"&gt;&lt;/line&gt;'
        '&lt;line data-type="edge" data-node-from="1" data-node-to="3"&gt;&lt;/line&gt;'
        + "".join(
            f'&lt;circle data-type="element node" data-node-id="{i + 1}" '
            f'data-label-name="{n}"&gt;&lt;/circle&gt;'
            for i, n in enumerate(KEYPOINTS)
        )
        + "</svg></label>",
        *(
            f"      <label><name>{n}</name><type>points</type><attributes/>"
            "<parent>person</parent></label>"
            for n in KEYPOINTS
        ),
    ]
    outside_all = dict.fromkeys(KEYPOINTS, "outside")
    track0 = [
        _shape(0, "1", 20),
        _shape(1, "0", 25),
        _shape(2, "1", 30, {"left_hand": "occluded", "right_hand": "outside"}),
        _shape(3, "1", 35),
        _shape(4, "1", 35, outside_all),
    ]
    track1 = [_shape(f, "1", 120 + f) for f in range(3, frames)]
    return "\n".join(
        [
            '<?xml version="1.0" encoding="utf-8"?>',
            "<annotations>",
            "  <version>1.1</version>",
            "  <meta>",
            "    <task>",
            f"      <size>{frames}</size>",
            "      <mode>interpolation</mode>",
            "      <start_frame>0</start_frame>",
            f"      <stop_frame>{frames - 1}</stop_frame>",
            "      <labels>",
            *labels,
            "      </labels>",
            f"      <original_size><width>{W}</width><height>{H}</height></original_size>",
            f"      <source>{video}</source>",
            "    </task>",
            "  </meta>",
            '  <track id="0" label="person" source="manual">',
            *track0,
            "  </track>",
            '  <track id="1" label="person" source="auto">',
            *track1,
            "  </track>",
            "</annotations>",
        ]
    )


def cvat_document(path: Path) -> dict[str, Any]:
    """The parsed document: task meta, labels (names, types, parents, edges), and per
    track its attributes and shapes (frame, keyframe, per point: outside, occluded and,
    when not outside, the position)."""
    root = ET.parse(path).getroot()
    task = root.find("meta/task")
    assert task is not None
    meta = {
        tag: (task.findtext(tag) or "").strip()
        for tag in ("size", "mode", "start_frame", "stop_frame", "source")
    }
    meta["original_size"] = (
        task.findtext("original_size/width"),
        task.findtext("original_size/height"),
    )
    labels = []
    for label in task.iterfind("labels/label"):
        svg = label.findtext("svg") or ""
        edges = sorted(
            (int(line.get("data-node-from", 0)), int(line.get("data-node-to", 0)))
            for line in ET.fromstring(f"<svg>{svg}</svg>").iter("line")
        )
        labels.append(
            (label.findtext("name"), label.findtext("type"), label.findtext("parent"), edges)
        )
    tracks = {}
    for track in root.iterfind("track"):
        shapes = []
        for shape in track.iterfind("skeleton"):
            points = []
            for p in shape.iterfind("points"):
                outside = p.get("outside")
                where = None if outside == "1" else p.get("points")
                points.append(
                    (p.get("label"), p.get("keyframe"), outside, p.get("occluded"), where)
                )
            shapes.append((shape.get("frame"), shape.get("keyframe"), sorted(points, key=str)))
        tracks[track.get("id")] = (track.get("label"), track.get("source"), shapes)
    return {"meta": meta, "labels": labels, "tracks": tracks}


def test_cvat_video_task_round_trips_through_a_video_project(
    server: Server, tmp_path: Path
) -> None:
    folder = tmp_path / "task"
    folder.mkdir()
    write_video(folder / "walk.mp4", 7, W, H)
    source = folder / "annotations.xml"
    source.write_text(cvat_task("walk.mp4", 7))
    pid = new_project(server, source.stem, source)
    with server.session() as session:
        (video,) = session.query(Video).filter_by(project_id=pid).all()
        assert (video.file_name, video.frame_count) == ("walk.mp4", 7)
        by_frame = {
            i.frame_index: i.annotation["instances"]
            for i in session.query(Item).filter_by(project_id=pid)
        }
    assert [len(by_frame[f]) for f in range(7)] == [1, 1, 1, 2, 1, 1, 1]
    assert [(i["source"], i["track_id"]) for i in by_frame[1]] == [("interpolated", 0)]
    assert {i["source"] for i in by_frame[5]} == {"model"}
    out = export(server, pid, tmp_path / "walk.xml", "cvat-video")
    assert cvat_document(out) == cvat_document(source)


def test_cvat_video_task_without_its_video_imports_its_frames(
    server: Server, tmp_path: Path
) -> None:
    """Without the video the task's frames are the images CVAT unpacks
    (``frame_000000``...); the tracks still come back."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for f in range(7):
        Image.new("RGB", (W, H), (f * 30, 90, 120)).save(folder / f"frame_{f:06d}", "PNG")
    source = folder / "annotations.xml"
    source.write_text(cvat_task("walk.mp4", 7))
    pid = new_project(server, source.stem, source)
    with server.session() as session:
        assert session.query(Video).filter_by(project_id=pid).count() == 0
        assert session.query(Item).filter_by(project_id=pid).count() == 7
    out = export(server, pid, tmp_path / "walk.xml", "cvat-video")
    assert cvat_document(out) == cvat_document(source)


def label_studio_file(folder: Path) -> Path:
    """Three images; two people on the first, one on the second (a hand absent), none
    on the third; each person a rectangle with its keypoints related to it."""
    tasks = []
    people_of = {0: [(30.0, 40.0), (150.0, 60.0)], 1: [(80.0, 50.0)], 2: []}
    for n, persons in people_of.items():
        name = f"img{n}.png"
        Image.new("RGB", (W, H), (40 * n, 100, 160)).save(folder / name)
        result: list[dict[str, Any]] = []
        for p, (x0, y0) in enumerate(persons):
            box = f"t{n}p{p}"
            result.append(
                {
                    "id": box,
                    "type": "rectanglelabels",
                    "from_name": "box",
                    "to_name": "image",
                    "original_width": W,
                    "original_height": H,
                    "value": {
                        "x": 100 * (x0 - 5) / W,
                        "y": 100 * (y0 - 5) / H,
                        "width": 100 * 40 / W,
                        "height": 100 * 50 / H,
                        "rotation": 0,
                        "rectanglelabels": ["person"],
                    },
                }
            )
            for j, kp in enumerate(KEYPOINTS):
                if n == 1 and kp == "right_hand":
                    continue
                rid = f"{box}k{j}"
                result.append(
                    {
                        "id": rid,
                        "type": "keypointlabels",
                        "from_name": "kp",
                        "to_name": "image",
                        "original_width": W,
                        "original_height": H,
                        "value": {
                            "x": 100 * (x0 + 10 * j) / W,
                            "y": 100 * (y0 + 15 * j) / H,
                            "width": 0.5,
                            "keypointlabels": [kp],
                        },
                    }
                )
                result.append({"type": "relation", "from_id": rid, "to_id": box})
        tasks.append(
            {
                "id": n + 1,
                "data": {"image": name},
                # sleap-io's reader wants the frame's video; Label Studio keeps meta as is
                "meta": {"video": {"filename": name, "frame_idx": 0, "shape": None}},
                "annotations": [{"result": result, "was_cancelled": False}],
            }
        )
    path = folder / "tasks.json"
    path.write_text(json.dumps(tasks))
    return path


def sleap_io_people(path: Path) -> dict[str, list[list[float | None]]]:
    """What sleap-io's Label Studio reader finds: per image, its people's points."""
    labels = sio.load_labelstudio(str(path))
    out: dict[str, list[list[float | None]]] = {}
    for lf in labels.labeled_frames:
        name = Path(
            str(lf.video.filename[0] if isinstance(lf.video.filename, list) else lf.video.filename)
        ).name
        for inst in lf.instances:
            xy = np.round(inst.numpy(), 2)
            out.setdefault(name, []).append(np.where(np.isnan(xy), None, xy).ravel().tolist())
    return {k: sorted(v, key=str) for k, v in out.items()}


def test_label_studio_round_trips_through_a_project(server: Server, tmp_path: Path) -> None:
    folder = tmp_path / "ls"
    folder.mkdir()
    source = label_studio_file(folder)
    pid = new_project(server, source.stem, source)
    out = export(server, pid, tmp_path / "out.ls.json", "labelstudio")
    assert out.read_bytes() == convert_round_trip(source, "labelstudio", tmp_path).read_bytes()
    assert people(out) == people(source)
    assert len(people(source)) == 2
    theirs = sleap_io_people(source)
    assert sum(len(v) for v in theirs.values()) == 3
    assert sleap_io_people(out) == theirs


def test_a_task_longer_than_its_video_imports_nothing(server: Server, tmp_path: Path) -> None:
    """The frames are checked after the video's items exist, inside the one transaction:
    the refusal names the frame, and neither the video nor its file is left behind."""
    folder = tmp_path / "task"
    folder.mkdir()
    write_video(folder / "walk.mp4", 4, W, H)
    source = folder / "annotations.xml"
    source.write_text(cvat_task("walk.mp4", 7))
    with server.session() as session:
        dataset = read_other(source, get_format("cvat-video"), [])
        project, _ = create_project_from_file(session, server.settings, "long", dataset, source)
        with pytest.raises(BadInput, match=r"annotations\.xml: frame 4 of video 'walk\.mp4'"):
            import_path(session, server.settings, project, source)
        assert session.query(Video).filter_by(project_id=project.id).count() == 0
        assert session.query(Item).filter_by(project_id=project.id).count() == 0
        folder_of_project = project_root(server.settings, project)
    assert not (folder_of_project / "walk.mp4").exists()
