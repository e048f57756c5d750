"""A SLEAP file with its video into a project (video items, tracks) and out again as
SLEAP, compared with the original by sleap-io, the format's own reader.

``centered_pair_predictions.slp`` (../shared/testdata/sleap, PROVENANCE.md) names its
video ``tests/data/videos/centered_pair_low_quality.mp4``, a path of the machine that
wrote it; the video sits in ``videos/`` beside the file's folder, where the import finds
it by name. 1100 frames, 2274 predicted instances on 27 tracks, a 24-node fly skeleton.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sleap_io as sio
from serverkit import Server

from posemark.services.errors import BadInput
from posemark.services.export_formats import export_project
from posemark.services.file_skeleton import create_project_from_file
from posemark.services.import_formats import other_format, read_other
from posemark.services.importing import import_path
from posemark.services.items import get_item, save_annotation
from posemark.services.projects import find_project
from posemark.store.models import Item, User
from posemark.store.video_models import Video

SLP = "sleap/sleap-io.js/slp/centered_pair_predictions.slp"


def new_project(server: Server, source: Path, videos: Path | None = None) -> int:
    with server.session() as session:
        spec = other_format(source)
        assert spec is not None and spec.name == "sleap"
        dataset = read_other(source, spec, [])
        project, _ = create_project_from_file(session, server.settings, "flies", dataset, source)
        report = import_path(session, server.settings, project, source, videos)
        assert (report.items_created, report.instances) == (1100, 2274)
        return project.id


def export(server: Server, pid: int, out: Path, fmt: str = "sleap") -> Path:
    with server.session() as session:
        export_project(session, find_project(session, str(pid)), out, fmt)
    return out


def plain(values: Any, digits: int) -> list[Any]:
    """Rounded values as lists, NaN as None (NaN never equals itself)."""
    rounded = np.round(np.asarray(values, dtype=np.float64), digits)
    return np.where(np.isnan(rounded), None, rounded).tolist()  # type: ignore[no-any-return]


def frames(labels: Any) -> dict[tuple[str, int], list[tuple[Any, ...]]]:
    """Per (video path, frame index): each instance's kind, track name, score, points
    (NaN where not visible) and point scores, in the frame's order."""
    out: dict[tuple[str, int], list[tuple[Any, ...]]] = {}
    for lf in labels.labeled_frames:
        rows = []
        for inst in lf.instances:
            predicted = isinstance(inst, sio.PredictedInstance)
            rows.append(
                (
                    type(inst).__name__,
                    inst.track.name if inst.track is not None else None,
                    round(float(inst.score), 4) if predicted else None,
                    plain(inst.numpy(), 3),
                    plain(inst.points["score"], 4) if predicted else None,
                )
            )
        out[(str(lf.video.filename), int(lf.frame_idx))] = rows
    return out


def skeleton(labels: Any) -> tuple[Any, ...]:
    (sk,) = labels.skeletons
    return (
        sk.name,
        list(sk.node_names),
        [(e.source.name, e.destination.name) for e in sk.edges],
        sorted(tuple(sorted(n.name for n in s.nodes)) for s in sk.symmetries),
    )


def test_sleap_file_and_its_video_round_trip_through_a_project(
    server: Server, testdata: Path, tmp_path: Path
) -> None:
    source = testdata / SLP
    pid = new_project(server, source)
    with server.session() as session:
        (video,) = session.query(Video).filter_by(project_id=pid).all()
        assert (video.file_name, video.frame_count) == ("centered_pair_low_quality.mp4", 1100)
        item = session.query(Item).filter_by(project_id=pid, frame_index=5).one()
        doc = item.annotation
        assert {i["source"] for i in doc["instances"]} == {"model"}
        assert not any(i["confirmed"] for i in doc["instances"])
    out = export(server, pid, tmp_path / "flies.slp")
    want = sio.load_slp(str(source), open_videos=False)
    got = sio.load_slp(str(out), open_videos=False)
    assert [v.filename for v in got.videos] == [v.filename for v in want.videos]
    assert [t.name for t in got.tracks] == [t.name for t in want.tracks]
    assert skeleton(got) == skeleton(want)
    assert frames(got) == frames(want)
    mine = {k: v for k, v in got.provenance.items() if k != "filename"}
    assert mine == {k: v for k, v in want.provenance.items() if k != "filename"}


def test_an_edit_and_a_new_frame_come_out_on_the_same_video(
    server: Server, testdata: Path, tmp_path: Path
) -> None:
    """A confirmed prediction is written as the user's instance; a frame labeled in
    posemark names the video as the imported file did (one video, not two)."""
    source = testdata / SLP
    pid = new_project(server, source)
    with server.session() as session:
        admin = session.query(User).filter_by(is_admin=True).one()
        item_id = session.query(Item.id).filter_by(project_id=pid, frame_index=7).scalar()
        access = get_item(session, admin, int(item_id or 0))
        doc = json.loads(json.dumps(access.item.annotation))
        doc["instances"][0]["confirmed"] = True
        doc["instances"][0]["source"] = "human"
        save_annotation(session, access, admin, access.item.version, doc)
    out = export(server, pid, tmp_path / "edited.slp")
    got = frames(sio.load_slp(str(out), open_videos=False))
    want = frames(sio.load_slp(str(source), open_videos=False))
    key = ("tests/data/videos/centered_pair_low_quality.mp4", 7)
    assert got[key][0][0] == "Instance" and got[key][0][3] == want[key][0][3]
    assert got[key][1:] == want[key][1:]
    assert {k: v for k, v in got.items() if k != key} == {k: v for k, v in want.items() if k != key}


def test_a_missing_video_is_named_and_nothing_is_imported(
    server: Server, testdata: Path, tmp_path: Path
) -> None:
    lonely = tmp_path / "alone" / "centered_pair_predictions.slp"
    lonely.parent.mkdir()
    lonely.write_bytes((testdata / SLP).read_bytes())
    with server.session() as session:
        dataset = read_other(lonely, other_format(lonely), [])  # type: ignore[arg-type]
        project, _ = create_project_from_file(session, server.settings, "f", dataset, lonely)
        with pytest.raises(BadInput, match=r"centered_pair_low_quality\.mp4.*not found"):
            import_path(session, server.settings, project, lonely)
        assert session.query(Item).filter_by(project_id=project.id).count() == 0
        assert session.query(Video).filter_by(project_id=project.id).count() == 0
    # --images names the videos' folder
    pid_report = None
    with server.session() as session:
        project = find_project(session, "f")
        videos = testdata / "sleap/sleap-io.js/videos"
        pid_report = import_path(session, server.settings, project, lonely, videos)
    assert (pid_report.items_created, pid_report.instances) == (1100, 2274)
