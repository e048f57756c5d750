"""A project out in every writable format, read back by posemark's readers and the
peers' (sleap-io for SLEAP); a video project's tracks, frame indices and keyframes
through PoseTrack 18, CVAT for video and SLEAP.

CVAT XML is checked with posemark's CVAT reader, which follows CVAT's documented
semantics (tests/test_formats_cvat_video.py): datumaro, CVAT's own parser, is not
installed in this environment.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
import sleap_io as sio
from fastapi.testclient import TestClient
from serverkit import MMPOSE, Server
from typer.testing import CliRunner

from posemark.cli.main import app
from posemark.formats import read
from posemark.schemas import load_builtin
from posemark.services.errors import BadInput
from posemark.services.export_formats import export_project
from posemark.services.import_existing import import_into_existing
from posemark.services.importing import import_path
from posemark.services.items import get_item, save_annotation
from posemark.services.projects import create_project, find_project
from posemark.store.models import Item, User
from videogen import write_video

SUFFIX = {
    "cvat": ".xml",
    "dlc": ".csv",
    "labelstudio": ".ls.json",
    "sleap": ".slp",
    "posetrack": ".posetrack.json",
}


def coco_project(server: Server, testdata: Path) -> int:
    with server.session() as session:
        project = create_project(session, server.settings, "people", "coco17")
        import_path(session, server.settings, project, testdata / MMPOSE / "test_coco.json")
        return project.id


def export(server: Server, pid: int, out: Path, fmt: str) -> Any:
    with server.session() as session:
        return export_project(session, find_project(session, str(pid)), out, fmt)


@pytest.mark.parametrize("fmt", sorted(SUFFIX))
def test_still_images_in_every_format_that_can_express_them(
    server: Server, testdata: Path, tmp_path: Path, fmt: str
) -> None:
    pid = coco_project(server, testdata)
    out = tmp_path / f"people{SUFFIX[fmt]}"
    summary = export(server, pid, out, fmt)
    assert (summary.images, summary.instances) == (4, 14)
    back = read(out, fmt, on_warning=lambda _p: None)
    assert len(back.images) == 4
    # DeepLabCut keeps one row per labeled individual: the two empty people are dropped
    assert len(back.instances) == (12 if fmt == "dlc" else 14)
    if fmt == "sleap":  # the peer's own reader
        labels = sio.load_slp(str(out))
        assert sum(len(lf.instances) for lf in labels.labeled_frames) == 14


def test_formats_that_cannot_express_the_project_say_why(
    server: Server, testdata: Path, tmp_path: Path
) -> None:
    pid = coco_project(server, testdata)
    with pytest.raises(BadInput, match="MPII stores the 16 mpii16 joints only"):
        export(server, pid, tmp_path / "x.json", "mpii-json")
    with pytest.raises(BadInput, match=r"format: .*nope"):
        export(server, pid, tmp_path / "x.json", "nope")
    assert not (tmp_path / "x.json").exists()


def tracked_video(server: Server, tmp_path: Path) -> int:
    """Six frames of one video, two people tracked over frames 0-3 and 2-5 (imported
    into the frames by video and frame_id); track 1's frame 1 is interpolated."""
    clip = write_video(tmp_path / "clip.mp4", 6)
    with server.session() as session:
        project = create_project(session, server.settings, "walk", "coco17")
        import_path(session, server.settings, project, clip)
        pid = project.id
    images = [
        {"id": 100 + f, "file_name": f"f{f}.jpg", "video": "clip.mp4", "frame_id": f}
        for f in range(6)
    ]
    anns = []
    for track, frames in ((1, range(0, 4)), (2, range(2, 6))):
        for f in frames:
            kps = [[10.0 * track + f + j, 20.0 + j * 5, 2] for j in range(17)]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": 100 + f,
                    "category_id": 1,
                    "keypoints": [v for kp in kps for v in kp],
                    "track_id": track,
                }
            )
    coco = {
        "images": images,
        "annotations": anns,
        "categories": [
            {
                "id": 1,
                "name": "person",
                "keypoints": list(load_builtin("coco17").keypoints),
            }
        ],
    }
    src = tmp_path / "tracks.json"
    src.write_text(json.dumps(coco))
    with server.session() as session:
        import_into_existing(session, find_project(session, str(pid)), src)
    with server.session() as session:
        admin = session.query(User).filter_by(is_admin=True).one()
        item_id = session.query(Item.id).filter_by(project_id=pid, file_name="clip.mp4#000001")
        access = get_item(session, admin, int(item_id.scalar() or 0))
        doc = json.loads(json.dumps(access.item.annotation))
        (inst,) = [i for i in doc["instances"] if i["track_id"] == 1]
        inst.update(source="interpolated", confirmed=False)
        save_annotation(session, access, admin, access.item.version, doc)
    return pid


def test_video_tracks_through_posetrack_cvat_video_and_sleap(
    server: Server, tmp_path: Path
) -> None:
    server.admin()
    pid = tracked_video(server, tmp_path)

    pt = tmp_path / "walk.posetrack.json"
    export(server, pid, pt, "posetrack")
    doc = json.loads(pt.read_text())
    frame_of = {img["id"]: img for img in doc["images"]}
    assert {img["nframes"] for img in doc["images"]} == {6}
    assert sorted(img["frame_id"] % 10000 for img in doc["images"]) == list(range(6))
    assert all(str(img["frame_id"]).startswith(f"1{img['vid_id']}") for img in doc["images"])
    seen = {
        (a["track_id"], frame_of[a["image_id"]]["frame_id"] % 10000) for a in doc["annotations"]
    }
    assert seen == {(1, f) for f in range(4)} | {(2, f) for f in range(2, 6)}
    assert [img["is_labeled"] for img in doc["images"]] == [True] * 6

    cv = tmp_path / "walk.cvat-video.xml"
    export(server, pid, cv, "cvat-video")
    root = ET.parse(cv).getroot()
    tracks = {
        int(t.get("id", -1)): {
            int(s.get("frame", -1)): s.get("keyframe") for s in t.findall("skeleton")
        }
        for t in root.findall("track")
    }
    assert tracks[1] == {0: "1", 1: "0", 2: "1", 3: "1", 4: "1"}  # 4: the end (outside)
    assert tracks[2] == {2: "1", 3: "1", 4: "1", 5: "1"}
    back = read(cv, "cvat-video")
    frames = back.images.extra_columns["frame_index"]
    got = {
        (int(t), frames[int(i)])
        for t, i in zip(back.instances.track_ids, back.instances.image_ids, strict=True)
    }
    assert got == seen

    slp = tmp_path / "walk.slp"
    export(server, pid, slp, "sleap")
    labels = sio.load_slp(str(slp))
    per_track = {
        (inst.track.name, lf.frame_idx) for lf in labels.labeled_frames for inst in lf.instances
    }
    assert per_track == {(str(t), f) for t, f in seen}


def test_cli_and_route_export_other_formats(
    server: Server, admin: TestClient, testdata: Path, tmp_path: Path, db_url: str
) -> None:
    pid = coco_project(server, testdata)
    r = admin.get(f"/api/projects/{pid}/export", params={"format": "cvat"})
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"].endswith('people.xml"')
    assert ET.fromstring(r.content).tag == "annotations"
    r = admin.get(f"/api/projects/{pid}/export", params={"format": "yolo"})
    assert r.status_code == 200, r.text
    names = zipfile.ZipFile(BytesIO(r.content)).namelist()
    assert "data.yaml" in names and sum(n.startswith("labels/") for n in names) >= 4
    r = admin.get(f"/api/projects/{pid}/export", params={"format": "mpii-mat"})
    assert r.status_code == 400 and "mpii16" in r.json()["detail"]

    runner = CliRunner()
    common = ["--data", str(tmp_path / "data"), "--db", db_url]
    source = str(testdata / MMPOSE / "test_coco.json")
    assert runner.invoke(app, ["import", "P", source, *common]).exit_code == 0
    out = tmp_path / "p.ls.json"
    r = runner.invoke(app, ["export", "P", str(out), "--to", "labelstudio", *common])
    assert r.exit_code == 0, r.output
    assert f"-> {out}: 4 images, 14 instances (labelstudio)" in r.stdout


def test_custom_templates_export_a_project(
    server: Server, admin: TestClient, testdata: Path, tmp_path: Path, db_url: str
) -> None:
    """The built-in templates are in the export route (and the page's menu, which offers
    what the route takes); a template file only from the command line: a request naming
    a path is refused before anything is read."""
    pid = coco_project(server, testdata)
    original = json.loads((testdata / MMPOSE / "test_coco.json").read_text())
    rows = sum(len(a["keypoints"]) // 3 for a in original["annotations"])
    r = admin.get(f"/api/projects/{pid}/export", params={"format": "template:keypoints.csv"})
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"].endswith('people-keypoints.csv"')
    lines = r.text.splitlines()
    assert lines[0] == "file_name,image_id,instance_id,category,track_id,keypoint,x,y,v"
    assert len(lines) == 1 + rows
    ids = {str(a["id"]) for a in original["annotations"]}
    assert {line.split(",")[2] for line in lines[1:]} == ids  # the exported records' ids
    own = tmp_path / "names.txt.j2"
    own.write_text("{% for f in frames %}{{ f.file_name }}\n{% endfor %}")
    r = admin.get(f"/api/projects/{pid}/export", params={"format": f"template:{own}"})
    assert r.status_code == 400 and "template:keypoints.csv" in r.json()["detail"]

    runner = CliRunner()
    common = ["--data", str(tmp_path / "data"), "--db", db_url]
    source = str(testdata / MMPOSE / "test_coco.json")
    assert runner.invoke(app, ["import", "P", source, *common]).exit_code == 0
    out = tmp_path / "names.txt"
    r = runner.invoke(app, ["export", "P", str(out), "--to", f"template:{own}", *common])
    assert r.exit_code == 0, r.output
    assert sorted(out.read_text().split()) == sorted(i["file_name"] for i in original["images"])
    r = runner.invoke(app, ["export", "P", str(out), "--to", "template:nope", *common])
    assert r.exit_code != 0 and "template:keypoints.csv" in r.output


def test_nwb_export_of_a_project_reads_back_in_sleap_io(
    server: Server, admin: TestClient, testdata: Path, tmp_path: Path
) -> None:
    """sleap-io writes user-labeled frames only with their video open: the export opens
    the project's stored images for it (one single-file image series per image, which
    sleap-io's reader opens again), and the file names them as the COCO export does."""
    pid = coco_project(server, testdata)
    r = admin.get(f"/api/projects/{pid}/export", params={"format": "nwb"})
    assert r.status_code == 200, r.text
    path = tmp_path / "people.nwb"
    path.write_bytes(r.content)
    labels = sio.load_nwb(str(path))
    original = json.loads((testdata / MMPOSE / "test_coco.json").read_text())
    named = sorted(
        str(v.filename[0] if isinstance(v.filename, list) else v.filename) for v in labels.videos
    )
    assert named == sorted(i["file_name"] for i in original["images"])
    assert sum(len(f.instances) for f in labels.labeled_frames) == len(original["annotations"])
    back = read(path)
    assert len(back.instances) == len(original["annotations"])
