"""Import from disk (what the CLI does) and COCO export, checked with pycocotools."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from serverkit import MMPOSE, Server, jpeg_bytes

from posemark.services.errors import BadInput, ServiceError
from posemark.services.exporting import export_coco_dict, export_coco_file
from posemark.services.importing import import_path
from posemark.services.projects import create_project, find_project


def new_project(server: Server, name: str = "p", skeleton: str = "coco17") -> int:
    with server.session() as session:
        return create_project(session, server.settings, name, skeleton).id


def do_import(server: Server, pid: int, source: Path, images: Path | None = None) -> Any:
    with server.session() as session:
        project = find_project(session, str(pid))
        return import_path(session, server.settings, project, source, images)


def quiet_coco(path: Path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def test_folder_import_is_recursive_and_skips_other_files(server: Server, tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    (folder / "day1").mkdir(parents=True)
    (folder / "a.JPG").write_bytes(jpeg_bytes())
    (folder / "day1" / "b.png").write_bytes(jpeg_bytes(16, 8))
    (folder / "README.md").write_text("not an image")
    (folder / ".DS_Store").write_bytes(b"\0")
    pid = new_project(server)
    report = do_import(server, pid, folder)
    assert (report.items_created, report.instances, report.ignored) == (2, 0, ["README.md"])
    root = server.settings.media_dir / f"p{pid}"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.*")) == [
        "a.JPG",
        "day1/b.png",
    ]


def test_coco_import_and_export_keep_every_keypoint(
    server: Server, testdata: Path, tmp_path: Path
) -> None:
    source = testdata / MMPOSE / "test_coco.json"
    pid = new_project(server)
    report = do_import(server, pid, source)
    assert (report.items_created, report.instances) == (4, 14)
    out = tmp_path / "export.json"
    with server.session() as session:
        export_coco_file(session, find_project(session, str(pid)), out)
    src, dst = quiet_coco(source), quiet_coco(out)
    by_name = {img["file_name"]: img["id"] for img in dst.dataset["images"]}
    compared = 0
    for img in src.dataset["images"]:
        mine = dst.imgToAnns[by_name[img["file_name"]]]
        theirs = src.imgToAnns[img["id"]]
        assert len(mine) == len(theirs)
        for a, b in zip(mine, theirs, strict=True):
            assert a["keypoints"] == b["keypoints"]  # v=1 kept, v=0 written as 0, 0, 0
            assert a["num_keypoints"] == b["num_keypoints"]
            assert a["bbox"] == b["bbox"]
            assert a["area"] == b["area"]  # the file's mask area, not the box's
            compared += 1
    assert compared == 14
    assert dst.dataset["categories"][0]["skeleton"] == src.dataset["categories"][0]["skeleton"]
    assert dst.dataset["categories"][0]["name"] == "person"
    assert [a["id"] for a in dst.dataset["annotations"]] == [
        a["id"] for a in src.dataset["annotations"]
    ]


def test_export_scores_ap_one_against_itself(
    server: Server, testdata: Path, tmp_path: Path
) -> None:
    pid = new_project(server)
    do_import(server, pid, testdata / MMPOSE / "test_coco.json")
    with server.session() as session:
        doc = export_coco_dict(session, find_project(session, str(pid)))
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps(doc))
    results = [
        {"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
        for a in doc["annotations"]
        if a["num_keypoints"] > 0
    ]
    assert len(results) == 12
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        ev = COCOeval(gt, gt.loadRes(results), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)  # AP
    assert ev.stats[5] == pytest.approx(1.0)  # AR


def test_coco_pointing_outside_the_image_folder_is_rejected(
    server: Server, testdata: Path, tmp_path: Path
) -> None:
    doc = json.loads((testdata / MMPOSE / "test_coco.json").read_text())
    images = tmp_path / "images"
    images.mkdir()
    for img in doc["images"]:
        (images / img["file_name"]).write_bytes((testdata / MMPOSE / img["file_name"]).read_bytes())
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(jpeg_bytes())
    pid = new_project(server)
    cases = [
        ("../secret.jpg", "images[0] file_name '../secret.jpg'"),
        (str(secret), "absolute paths are not allowed"),
        ("link.jpg", "'link.jpg' points outside the image folder"),
        ("nothere.jpg", "'nothere.jpg': image missing on disk"),
    ]
    os.symlink(secret, images / "link.jpg")
    for file_name, message in cases:
        doc["images"][0]["file_name"] = file_name
        coco = tmp_path / "coco.json"
        coco.write_text(json.dumps(doc))
        before = server.media_listing()
        with pytest.raises(BadInput, match=re.escape(message)):
            do_import(server, pid, coco, images)
        assert server.item_count(pid) == 0
        assert server.media_listing() == before


def test_symlinked_files_escaping_a_folder_are_rejected(server: Server, tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    (folder / "ok.jpg").write_bytes(jpeg_bytes())
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(jpeg_bytes())
    os.symlink(outside, folder / "sneaky.jpg")
    pid = new_project(server)
    with pytest.raises(BadInput, match=r"'sneaky\.jpg' points outside its folder"):
        do_import(server, pid, folder)
    assert server.item_count(pid) == 0


def test_a_failure_while_moving_files_undoes_everything(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "shots"
    (folder / "sub").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg", "sub/c.jpg"):
        (folder / name).write_bytes(jpeg_bytes())
    pid = new_project(server)
    before = server.media_listing()
    real_rename = os.rename
    calls = []

    def flaky_rename(src: Any, dst: Any) -> None:
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_rename(src, dst)

    monkeypatch.setattr("posemark.services.importing.os.rename", flaky_rename)
    with pytest.raises(OSError, match="No space left"):
        do_import(server, pid, folder)
    assert len(calls) == 3
    assert server.item_count(pid) == 0
    assert server.media_listing() == before


def test_results_lists_and_unknown_sources_are_refused(
    server: Server, testdata: Path, tmp_path: Path
) -> None:
    pid = new_project(server)
    preds = testdata / "coco/xtcocoapi_examples/example_coco_preds.json"
    with pytest.raises(BadInput, match="a COCO results list"):
        do_import(server, pid, preds, testdata / MMPOSE)
    with pytest.raises(
        ServiceError, match=r"expected a folder of images, a video, or an annotation"
    ):
        do_import(server, pid, testdata / MMPOSE / "000000000785.jpg")
    with pytest.raises(BadInput, match="no such file or folder"):
        do_import(server, pid, tmp_path / "nope")


def test_export_of_edited_annotations(server: Server, tmp_path: Path) -> None:
    """Derived boxes follow the keypoints, drawn boxes stay, num_keypoints is counted."""
    from posemark.schemas import load_builtin
    from posemark.services.annotation import validate_document
    from posemark.store.models import Item

    folder = tmp_path / "shots"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(jpeg_bytes(200, 100))
    pid = new_project(server)
    do_import(server, pid, folder)
    kps: list[list[Any]] = [[None, None, 0]] * 17
    kps = [list(k) for k in kps]
    kps[5], kps[6], kps[9] = [10.5, 20.0, 2], [30.0, 25.5, 1], [12.0, 40.0, 2]
    doc = {
        "instances": [
            {"id": "a", "keypoints": kps, "bbox": [0, 0, 5, 5], "bbox_mode": "derived"},
            {"id": "b", "keypoints": kps, "bbox": [1, 2, 50, 60], "bbox_mode": "drawn"},
        ]
    }
    with server.session() as session:
        item = session.query(Item).one()
        item.annotation = validate_document(doc, load_builtin("coco17"))
    with server.session() as session:
        out = export_coco_dict(session, find_project(session, str(pid)))
    a, b = out["annotations"]
    assert a["bbox"] == [10.5, 20, 19.5, 20] and a["area"] == 390
    assert b["bbox"] == [1, 2, 50, 60] and b["area"] == 3000
    assert a["num_keypoints"] == b["num_keypoints"] == 3
    assert np.array(a["keypoints"]).reshape(17, 3)[6].tolist() == [30, 25.5, 1]
    assert out["images"] == [{"id": 1, "file_name": "a.jpg", "width": 200, "height": 100}]


def test_unconfirmed_suggestions_survive_export_and_import(server: Server, tmp_path: Path) -> None:
    """Exporting marks unconfirmed instances; importing that file into another project
    keeps them unconfirmed suggestions instead of turning them into a person's work."""
    from posemark.schemas import load_builtin
    from posemark.services.annotation import validate_document
    from posemark.store.models import Item

    folder = tmp_path / "shots"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(jpeg_bytes(200, 100))
    pid = new_project(server)
    do_import(server, pid, folder)
    kps = [[None, None, 0] for _ in range(17)]
    kps[5], kps[6] = [10.5, 20.0, 2], [30.0, 25.5, 2]
    doc = {
        "instances": [
            {"id": "h", "keypoints": kps},
            {"id": "m", "keypoints": kps, "source": "model", "confirmed": False},
            {"id": "p", "keypoints": kps, "source": "propagated", "confirmed": False},
        ]
    }
    with server.session() as session:
        session.query(Item).one().annotation = validate_document(doc, load_builtin("coco17"))
    exported = tmp_path / "out" / "coco.json"
    exported.parent.mkdir()
    with server.session() as session:
        export_coco_file(session, find_project(session, str(pid)), exported)
    marks = [a.get("posemark") for a in json.loads(exported.read_text())["annotations"]]
    assert marks == [
        None,
        {"source": "model", "confirmed": False},
        {"source": "propagated", "confirmed": False},
    ]
    (exported.parent / "a.jpg").write_bytes((folder / "a.jpg").read_bytes())
    again = new_project(server, "again")
    do_import(server, again, exported)
    with server.session() as session:
        item = session.query(Item).filter(Item.project_id == again).one()
        got = [(i["source"], i["confirmed"]) for i in item.annotation["instances"]]
    assert got == [("human", True), ("model", False), ("propagated", False)]


def test_images_on_the_data_folder_file_system_are_linked_and_a_failure_unlinks_them(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (folder / name).write_bytes(jpeg_bytes())
    pid = new_project(server)
    do_import(server, pid, folder)
    root = server.settings.media_dir / f"p{pid}"
    for name in ("a.jpg", "b.jpg"):  # the same file, not a copy of it
        assert (root / name).stat().st_ino == (folder / name).stat().st_ino
    other = tmp_path / "more"
    other.mkdir()
    for name in ("c.jpg", "d.jpg"):
        (other / name).write_bytes(jpeg_bytes())
    before = server.media_listing()
    real_rename = os.rename

    def full_disk(src: Any, dst: Any) -> None:
        if Path(dst).name == "d.jpg":
            raise OSError(28, "No space left on device")
        real_rename(src, dst)

    monkeypatch.setattr("posemark.services.importing.os.rename", full_disk)
    with pytest.raises(OSError, match="No space left"):
        do_import(server, pid, other)
    assert server.media_listing() == before
    for name in ("c.jpg", "d.jpg"):  # the sources whole, their staged links gone
        assert (other / name).read_bytes() == jpeg_bytes()
        assert (other / name).stat().st_nlink == 1


def test_documents_built_a_chunk_at_a_time_are_those_built_at_once(
    testdata: Path, tmp_path: Path
) -> None:
    from posemark.formats.coco_io import read_coco
    from posemark.schemas import load_builtin
    from posemark.services.coco_import import coco_import

    data = json.loads((testdata / MMPOSE / "test_coco.json").read_text())
    shuffled = {**data, "annotations": data["annotations"][::-1]}  # images interleaved
    (tmp_path / "mixed.json").write_text(json.dumps(shuffled))
    skeleton = load_builtin("coco17")
    whole = coco_import(read_coco(testdata / MMPOSE / "test_coco.json"), skeleton, "f")
    mixed = coco_import(read_coco(tmp_path / "mixed.json"), skeleton, "f")
    assert (whole.in_order, mixed.in_order) == (True, False)
    docs, sources = whole.rows(0, len(whole))
    assert sum(len(d["instances"]) for d in docs) == 14
    for read in (whole, mixed):
        for size in (1, 3):
            parts = [read.rows(r.start, r.stop) for r in read.chunks(size)]
            got = [d for part in parts for d in part[0]]
            assert [[i["id"] for i in d["instances"]] for d in got] == [
                [i["id"] for i in d["instances"]][:: 1 if read is whole else -1] for d in docs
            ]
            for a, b in zip(got, docs, strict=True):
                assert sorted(a["instances"], key=lambda i: i["id"]) == sorted(
                    b["instances"], key=lambda i: i["id"]
                )
            assert [s["image"] for part in parts for s in part[1]] == [s["image"] for s in sources]


def test_export_walks_its_own_items_in_id_order_among_other_projects(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export reads its items by ranges of the primary key (not through the
    project's index): items of two projects created in turn come back each in its own
    export, in id order, across batch boundaries, with every number written as COCO
    files write it (integral values as integers, fractions as they are)."""
    from posemark.schemas import load_builtin
    from posemark.services import exporting
    from posemark.services.annotation import validate_document
    from posemark.store.models import Item

    monkeypatch.setattr(exporting, "_BATCH", 2)
    first, second = new_project(server, "first"), new_project(server, "second")
    for turn, pid in enumerate([first, second, first, second, first]):
        folder = tmp_path / f"turn{turn}"
        folder.mkdir()
        for n in range(3):
            (folder / f"t{turn}_{n}.jpg").write_bytes(jpeg_bytes(64, 48))
        do_import(server, pid, folder)
    skeleton = load_builtin("coco17")
    values = [10.5, 20.0, -3.0, 0.25, 7.0, 1e-3, 640.0, 479.75]
    with server.session() as session:
        items = session.query(Item).order_by(Item.id).all()
        for at, item in enumerate(items):
            kps: list[list[Any]] = [[None, None, 0] for _ in range(17)]
            for j in range(1 + at % 5):
                kps[j] = [values[(at + j) % 8], values[(at + 2 * j + 1) % 8], 1 + j % 2]
            drawn = {"id": "d", "keypoints": kps, "bbox": [1, 2.5, 30, 40], "bbox_mode": "drawn"}
            derived = {"id": "e", "keypoints": kps, "bbox": None, "bbox_mode": "derived"}
            doc = {"instances": [drawn, derived][: 1 + at % 2]}
            item.annotation = validate_document(doc, skeleton)
        expected_items = {
            pid: [(i.id, i.file_name) for i in items if i.project_id == pid]
            for pid in (first, second)
        }
    for pid in (first, second):
        with server.session() as session:
            out = export_coco_dict(session, find_project(session, str(pid)))
        assert [(im["id"], im["file_name"]) for im in out["images"]] == expected_items[pid]
        assert [a["image_id"] for a in out["annotations"]] == sorted(
            a["image_id"] for a in out["annotations"]
        )
        assert [a["id"] for a in out["annotations"]] == list(range(1, len(out["annotations"]) + 1))
        for record in out["annotations"]:
            flat = record["keypoints"]
            for x, y, v in zip(flat[0::3], flat[1::3], flat[2::3], strict=True):
                for number in (x, y):
                    integral = float(number).is_integer()
                    assert isinstance(number, int) == integral, record
                if not v:
                    assert (x, y) == (0, 0)
            assert record["num_keypoints"] == sum(1 for v in flat[2::3] if v)
            if record["bbox"] == [1, 2.5, 30, 40]:
                assert record["area"] == 1200 and isinstance(record["area"], int)


def test_flat_keypoints_write_each_number_as_number_rule_says() -> None:
    """The export's flat keypoints take a shortcut for fractions; every kind of number a
    document can hold comes out as ``_number`` of it, type included."""
    from posemark.services.coco_source import _number, flat_keypoints

    numbers: list[Any] = [12.5, 12.0, 12, -0.0, -3.0, -2.75, 0.1, 2.0**53, 2.0**53 - 1, 2**60]
    numbers += [1e300, -1e-300, True]
    points = [[x, y, 2] for x in numbers for y in numbers] + [[None, None, 0], [5.5, 1.0, 0]]
    flat, labeled = flat_keypoints({"keypoints": points})
    expected: list[Any] = []
    for x, y, v in points:
        expected += [_number(x), _number(y), v] if v > 0 else [0, 0, 0]
    assert labeled == len(numbers) ** 2
    assert [(type(a), a) for a in flat] == [(type(b), b) for b in expected]


def test_an_export_pauses_the_collector_only_while_it_builds_a_batch(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch is built and encoded with the cyclic collector off (its records hold no
    cycles), and the collector is on again between batches, after the export, and after
    an export cancelled mid-way (in a web process it serves every other request)."""
    import gc

    from posemark.services import exporting
    from posemark.services.exporting import CocoExport, ExportCancelled

    monkeypatch.setattr(exporting, "_BATCH", 2)
    pid = new_project(server, "collector")
    folder = tmp_path / "images"
    folder.mkdir()
    for n in range(5):
        (folder / f"i{n}.jpg").write_bytes(jpeg_bytes(64, 48))
    do_import(server, pid, folder)
    seen: list[bool] = []  # the collector's state each time a batch is asked for
    with server.session() as session:
        project = find_project(session, str(pid))
        export = CocoExport(session, project, should_stop=lambda: seen.append(gc.isenabled()))
        between = [gc.isenabled() for _chunk in export.chunks()]
        assert export.images == 5 and seen and not any(seen) and all(between)
        assert gc.isenabled()
        asked = iter([False, False, True])
        cancelled = CocoExport(session, project, should_stop=lambda: next(asked))
        with pytest.raises(ExportCancelled):
            b"".join(cancelled.chunks())
        assert gc.isenabled()
