"""A COCO file imported into a project and exported again is the same file.

Every COCO-style file of ../shared/testdata whose images are all there (see its
PROVENANCE.md) starts a new project from its own skeleton, is exported without edits
and compared with the original as parsed JSON, and, where pycocotools can score it (it
needs ``area`` on every annotation), the same predictions score the same ten stats
against both. ``example_wholebody_val.json`` is not among them: it lists
000000001000.jpg, which the samples do not include.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from serverkit import MMPOSE, Server

from posemark.formats.coco import dataset_to_dict
from posemark.formats.coco_io import read_coco
from posemark.services.exporting import export_coco_dict
from posemark.services.file_skeleton import create_project_from_file
from posemark.services.importing import import_path, read_coco_file
from posemark.services.projects import find_project
from posemark.store.models import Item, User

DATUMARO = "coco/datumaro_coco_person_keypoints"
FILES: list[tuple[str, str | None]] = [
    (f"{MMPOSE}/test_coco.json", None),
    (f"{MMPOSE}/test_coco_wholebody.json", None),  # per-annotation face/hand/foot arrays
    (f"{MMPOSE}/test_keypoint_partition_metric.json", None),  # 133 kps, 17 names, float v
    ("crowdpose/mmpose_crowdpose/test_crowdpose.json", None),  # invalid edges, no area
    ("aic/mmpose_aic/test_aic.json", None),  # 'Right Shoulder' names, no area/iscrowd
    ("halpe/mmpose_halpe/test_halpe.json", MMPOSE),  # empty name lists, 136 kps
    ("mpii/mmpose_mpii/test_mpii_trb.json", None),  # annotations not in image order
    (
        "posetrack/mmpose_posetrack18/annotations/test_posetrack18_val.json",
        "posetrack/mmpose_posetrack18",
    ),
    *(
        (f"posetrack/mmpose_posetrack18/annotations/val/{v}.json", "posetrack/mmpose_posetrack18")
        for v in ("003418_mpii_test", "009473_mpii_test", "012834_mpii_test")
    ),
    (f"{DATUMARO}/annotations/person_keypoints_train.json", f"{DATUMARO}/images/train"),
    (f"{DATUMARO}/annotations/person_keypoints_val.json", f"{DATUMARO}/images/val"),
]
ZERO_BASED = {f"{DATUMARO}/annotations/person_keypoints_{s}.json" for s in ("train", "val")}
"""Files whose 0-based category skeleton posemark writes back 1-based (as ``convert``
does, README "COCO keypoints"); everything else comes back byte-for-value identical."""


def new_project_from(server: Server, name: str, source: Path, images: Path | None) -> int:
    with server.session() as session:
        dataset = read_coco_file(source, [])
        project, _ = create_project_from_file(session, server.settings, name, dataset, source)
        import_path(session, server.settings, project, source, images)
        return project.id


def export(server: Server, pid: int, exclude_unconfirmed: bool = False) -> dict[str, Any]:
    with server.session() as session:
        return export_coco_dict(session, find_project(session, str(pid)), exclude_unconfirmed)


def quiet(fn: Any, *args: Any) -> Any:
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def stats(gt_doc: dict[str, Any], results: list[dict[str, Any]], tmp: Path) -> list[float]:
    path = tmp / "gt.json"
    path.write_text(json.dumps(gt_doc))
    gt = quiet(COCO, str(path))
    ev = COCOeval(gt, quiet(gt.loadRes, results), "keypoints")
    k = len(results[0]["keypoints"]) // 3
    if k != 17:
        ev.params.kpt_oks_sigmas = np.full(k, 0.05)
    quiet(ev.evaluate)
    quiet(ev.accumulate)
    quiet(ev.summarize)
    return [float(s) for s in ev.stats]


def jittered_predictions(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Ground truth moved by a few pixels (seeded), one result per labeled person."""
    rng = np.random.default_rng(7)
    out = []
    for ann in doc["annotations"]:
        kps = np.asarray(ann["keypoints"], dtype=float).reshape(-1, 3)
        if not (kps[:, 2] > 0).any():
            continue
        kps[:, :2] += rng.normal(0, 4, (len(kps), 2))
        kps[:, 2] = 1
        out.append(
            {
                "image_id": ann["image_id"],
                "category_id": ann["category_id"],
                "keypoints": kps.ravel().tolist(),
                "score": float(rng.uniform(0.5, 1)),
            }
        )
    return out


@pytest.mark.parametrize(("name", "images"), FILES, ids=[Path(f).stem for f, _ in FILES])
def test_project_round_trip_equals_the_file(
    server: Server, testdata: Path, tmp_path: Path, name: str, images: str | None
) -> None:
    source = testdata / name
    pid = new_project_from(server, "rt", source, testdata / images if images else None)
    exported = export(server, pid)
    original = json.loads(source.read_text())
    converted = dataset_to_dict(read_coco(source, on_warning=lambda _p: None))
    assert exported == converted  # exactly what `posemark convert` writes
    if name in ZERO_BASED:
        assert exported["annotations"] == original["annotations"]
        assert exported["images"] == original["images"]
    else:
        assert exported == original
    if all("area" in a for a in original["annotations"]):
        preds = jittered_predictions(original)
        assert stats(exported, preds, tmp_path) == stats(original, preds, tmp_path)


def test_reference_predictions_score_the_same_against_the_export(
    server: Server, testdata: Path, tmp_path: Path
) -> None:
    """xtcocoapi's 73 predictions for the mmpose sample: the reference stats of
    PROVENANCE.md, against the original file and against the project's export."""
    source = testdata / MMPOSE / "test_coco.json"
    pid = new_project_from(server, "rt", source, None)
    preds = json.loads((testdata / "coco/xtcocoapi_examples/example_coco_preds.json").read_text())
    original = stats(json.loads(source.read_text()), preds, tmp_path)
    assert stats(export(server, pid), preds, tmp_path) == original
    assert original[0] == pytest.approx(0.86089, abs=1e-5)


def _save(server: Server, pid: int, file_name: str, edit: Any) -> None:
    """Change one item's document through the same service the editor's save calls."""
    from posemark.services.items import get_item, save_annotation

    with server.session() as session:
        item_id = session.query(Item.id).filter_by(project_id=pid, file_name=file_name).scalar()
        admin = session.query(User).filter_by(is_admin=True).one()
        access = get_item(session, admin, item_id)
        doc = json.loads(json.dumps(access.item.annotation))
        edit(doc)
        save_annotation(session, access, admin, access.item.version, doc)


def test_edits_keep_ids_and_unknown_fields_and_follow_the_area_rule(
    server: Server, testdata: Path
) -> None:
    server.admin()  # the admin account exists
    source = testdata / MMPOSE / "test_coco_wholebody.json"
    original = json.loads(source.read_text())
    pid = new_project_from(server, "rt", source, None)
    by_id = {a["id"]: a for a in original["annotations"]}
    name_of = {i["id"]: i["file_name"] for i in original["images"]}
    moved, boxed, deleted = (a["id"] for a in original["annotations"][1:4])
    assert len({name_of[by_id[i]["image_id"]] for i in (moved, boxed, deleted)}) == 1
    file_name = name_of[by_id[moved]["image_id"]]

    def edit(doc: dict[str, Any]) -> None:
        insts = {inst["id"]: inst for inst in doc["instances"]}
        kp = next(t for t in insts[f"a{moved}"]["keypoints"] if t[2] > 0)
        kp[0] += 3.0  # a keypoint moves: the person's size (area) does not change
        box = insts[f"a{boxed}"]["bbox"]
        insts[f"a{boxed}"]["bbox"] = [box[0], box[1], box[2] * 2, box[3]]
        doc["instances"] = [i for i in doc["instances"] if i["id"] != f"a{deleted}"]
        doc["instances"].append(
            {
                "id": "i1",
                "keypoints": [[10.0, 20.0, 2]] + [[None, None, 0]] * 16,
                "bbox": [5.0, 5.0, 10.0, 30.0],
                "bbox_mode": "drawn",
            }
        )

    _save(server, pid, file_name, edit)
    out = export(server, pid)
    got = {a["id"]: a for a in out["annotations"]}
    assert deleted not in got
    a, b = got[moved], by_id[moved]
    assert a["keypoints"] != b["keypoints"]
    assert (a["area"], a["bbox"], a["segmentation"]) == (b["area"], b["bbox"], b["segmentation"])
    assert a["face_kpts"] == b["face_kpts"] and a["lefthand_valid"] == b["lefthand_valid"]
    c, d = got[boxed], by_id[boxed]
    assert c["bbox"][2] == pytest.approx(2 * d["bbox"][2])
    assert c["area"] == pytest.approx(2 * d["area"], abs=0.01)  # scaled with the box
    assert c["foot_kpts"] == d["foot_kpts"] and c["keypoints"] == d["keypoints"]
    new = [x for x in out["annotations"] if x["id"] not in by_id]
    assert len(new) == 1 and new[0]["id"] > max(by_id)
    assert new[0]["area"] == 300 and new[0]["keypoints"][:3] == [10, 20, 2]
    untouched = [
        x for x in out["annotations"] if x["id"] in by_id and x["id"] not in (moved, boxed)
    ]
    assert untouched == [
        x for x in original["annotations"] if x["id"] not in (moved, boxed, deleted)
    ]
    assert out["images"] == original["images"] and out["info"] == original["info"]


def test_a_second_file_gets_ids_that_never_collide(server: Server, testdata: Path) -> None:
    """Datumaro's train and val samples both number annotations from 1; the val file's
    category ``a`` is not the project's skeleton and is kept as it is."""
    root = testdata / DATUMARO
    train = root / "annotations/person_keypoints_train.json"
    val = root / "annotations/person_keypoints_val.json"
    pid = new_project_from(server, "two", train, root / "images/train")
    with server.session() as session:
        report = import_path(
            session, server.settings, find_project(session, str(pid)), val, root / "images/val"
        )
    assert any("category 'a'" in w and "kept as they are" in w for w in report.warnings)
    assert any("given new ids" in w for w in report.warnings)
    out = export(server, pid)
    ids = [a["id"] for a in out["annotations"]]
    assert len(ids) == len(set(ids)) == 3
    assert sorted(i["id"] for i in out["images"]) == [5, 40]
    val_doc = json.loads(val.read_text())

    def without_id(a: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in a.items() if k != "id"}

    exported = [without_id(a) for a in out["annotations"]]
    assert all(without_id(a) in exported for a in val_doc["annotations"])


def test_a_longer_keypoints_array_comes_back_and_takes_the_edits(
    server: Server, testdata: Path, tmp_path: Path
) -> None:
    """The mmpose sample with three more names and a ``keypoints_20`` array beside the
    COCO-17 ``keypoints`` (tests/test_formats_tolerant.py): the project has 20 keypoints,
    the export gives the file back, and an edit lands in ``keypoints_20``."""
    server.admin()
    doc = json.loads((testdata / MMPOSE / "test_coco.json").read_text())
    doc["categories"][0]["keypoints"] += ["neck", "head_top", "pelvis"]
    for ann in doc["annotations"]:
        ann["keypoints_20"] = ann["keypoints"] + [1, 2, 2, 3, 4, 2, 0, 0, 0]
    source = tmp_path / "k20.json"
    source.write_text(json.dumps(doc))
    pid = new_project_from(server, "k20", source, testdata / MMPOSE)
    assert export(server, pid) == doc
    first = doc["annotations"][0]
    name = next(i["file_name"] for i in doc["images"] if i["id"] == first["image_id"])

    def edit(d: dict[str, Any]) -> None:
        inst = next(i for i in d["instances"] if i["id"] == f"a{first['id']}")
        inst["keypoints"][18] = [7.0, 8.0, 1]

    _save(server, pid, name, edit)
    (got,) = [a for a in export(server, pid)["annotations"] if a["id"] == first["id"]]
    assert got["keypoints"] == first["keypoints"]
    assert got["keypoints_20"][54:57] == [7, 8, 1]
