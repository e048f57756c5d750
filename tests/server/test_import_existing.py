"""Annotations and predictions into items a project already has: matching, policies,
dry runs, all or nothing; through the service, the API and the CLI.

Predictions are xtcocoapi's 73 results for the mmpose COCO sample (PROVENANCE.md), whose
image ids are those of ``test_coco.json``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from serverkit import MMPOSE, Server, upload
from typer.testing import CliRunner

from posemark.cli.main import app
from posemark.qa import run_checks
from posemark.qa.document import document_dataset
from posemark.services.errors import BadInput
from posemark.services.exporting import export_coco_dict
from posemark.services.import_existing import import_into_existing
from posemark.services.importing import import_path
from posemark.services.projects import create_project, find_project, project_skeleton
from posemark.services.qa_operation import queue_refresh
from posemark.services.qa_store import ITEM_CHECKS, pending_count, stored_prior
from posemark.store import open_store
from posemark.store.models import Item
from posemark.store.qa_models import QaFinding, QaInstance
from posemark.store.workflow_models import ItemVersion

PREDS = "coco/xtcocoapi_examples/example_coco_preds.json"


def images_only(server: Server, testdata: Path, tmp_path: Path) -> int:
    """A coco17 project of the four mmpose images, without annotations."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    for jpg in (testdata / MMPOSE).glob("*.jpg"):
        (folder / jpg.name).write_bytes(jpg.read_bytes())
    with server.session() as session:
        project = create_project(session, server.settings, "p", "coco17")
        import_path(session, server.settings, project, folder)
        return project.id


def annotated(server: Server, testdata: Path) -> int:
    with server.session() as session:
        project = create_project(session, server.settings, "p", "coco17")
        import_path(session, server.settings, project, testdata / MMPOSE / "test_coco.json")
        return project.id


def into(server: Server, pid: int, source: Path, **kw: Any) -> Any:
    with server.session() as session:
        return import_into_existing(session, find_project(session, str(pid)), source, **kw)


def refreshed(server: Server, pid: int) -> None:
    """The QA refresh an import leaves queued, run as a worker runs it."""
    with server.session() as session:
        assert queue_refresh(session, lambda _op: None, pid) is not None
    assert server.run_operations() == ["done"]
    with server.session() as session:
        assert pending_count(session, pid) == 0


def documents(server: Server, pid: int) -> dict[str, list[dict[str, Any]]]:
    with server.session() as session:
        rows = session.query(Item.file_name, Item.annotation).filter_by(project_id=pid)
        return {name: doc["instances"] for name, doc in rows}


def test_ground_truth_into_images_matched_by_file_name(
    server: Server, testdata: Path, tmp_path: Path
) -> None:
    pid = images_only(server, testdata, tmp_path)
    source = testdata / MMPOSE / "test_coco.json"
    report = into(server, pid, source)
    assert (report.items_matched, report.instances_added, report.items_with_instances) == (4, 14, 0)
    docs = documents(server, pid)
    assert sum(len(v) for v in docs.values()) == 14
    assert all(i["source"] == "human" and i["confirmed"] for v in docs.values() for i in v)
    original = json.loads(source.read_text())
    with server.session() as session:
        out = export_coco_dict(session, find_project(session, str(pid)))
    assert sorted(a["keypoints"] for a in out["annotations"]) == sorted(
        a["keypoints"] for a in original["annotations"]
    )
    with server.session() as session:  # the history has the version before and after
        actions = {a for (a,) in session.query(ItemVersion.action)}
    assert actions == {"created", "import"}


def test_results_become_scored_suggestions_under_a_policy(server: Server, testdata: Path) -> None:
    pid = annotated(server, testdata)
    preds = testdata / PREDS
    before = documents(server, pid)
    with pytest.raises(BadInput, match="4 of the 4 matched items already have instances"):
        into(server, pid, preds)
    dry = into(server, pid, preds, dry_run=True, policy="replace")
    assert (dry.items_matched, dry.instances_added, dry.instances_replaced) == (4, 73, 14)
    assert documents(server, pid) == before  # a dry run writes nothing

    report = into(server, pid, preds, policy="add")
    assert (report.instances_added, report.suggestions) == (73, True)
    docs = documents(server, pid)
    added = [i for v in docs.values() for i in v if i["source"] == "model"]
    assert len(added) == 73 and not any(i["confirmed"] for i in added)
    assert all(s is None or 0 < s <= 1 for i in added for s in i["scores"])
    assert sum(len(v) for v in docs.values()) == 14 + 73
    ids = [i["id"] for v in docs.values() for i in v]
    assert len(ids) == len(set(ids)) or all(  # unique within each item
        len({i["id"] for i in v}) == len(v) for v in docs.values()
    )

    skipped = into(server, pid, preds, policy="skip")
    assert (skipped.items_skipped, skipped.instances_added) == (4, 0)
    replaced = into(server, pid, preds, policy="replace")
    assert replaced.instances_replaced == 14 + 73
    assert sum(len(v) for v in documents(server, pid).values()) == 73


def test_imported_suggestions_are_judged_by_the_kept_qa(server: Server, testdata: Path) -> None:
    """Suggestions are instances of the document: the refresh after the import keeps a
    QA row and a risk for each of them, and their findings are those of a check run on
    the whole item. Until it ran, the four items are marked awaiting it."""
    pid = annotated(server, testdata)
    refreshed(server, pid)
    into(server, pid, testdata / PREDS, policy="add")
    with server.session() as session:
        assert pending_count(session, pid) == 4
        assert session.query(QaInstance).filter_by(project_id=pid).count() == 14
    refreshed(server, pid)
    with server.session() as session:
        items = session.query(Item).filter_by(project_id=pid).all()
        kept = {
            (r.item_id, r.instance_id) for r in session.query(QaInstance).filter_by(project_id=pid)
        }
        found = {
            (r.item_id, r.instance_index, r.check, r.keypoint)
            for r in session.query(QaFinding).filter_by(project_id=pid)
        }
        project = find_project(session, str(pid))
        skeleton = project_skeleton(project)
        prior = stored_prior(session, pid)
        expected = set()
        for item in items:
            doc = item.annotation
            dataset = document_dataset(doc, skeleton, item.width, item.height)
            for f in run_checks(dataset, prior=prior, only=ITEM_CHECKS):
                expected.add((item.id, f.annotation_id, f.check, f.keypoint))
    people = {(item.id, i["id"]) for item in items for i in item.annotation["instances"]}
    assert kept == people and len(people) == 14 + 73
    models = {
        (item.id, n)
        for item in items
        for n, i in enumerate(item.annotation["instances"])
        if i["source"] == "model"
    }
    on_models = {f for f in found if f[:2] in models}
    assert on_models, "no finding on any of the 73 suggestions"
    assert on_models == {f for f in expected if f[:2] in models}


def test_an_unmatched_image_imports_nothing(server: Server, testdata: Path, tmp_path: Path) -> None:
    pid = images_only(server, testdata, tmp_path)
    doc = json.loads((testdata / MMPOSE / "test_coco.json").read_text())
    doc["images"][2]["file_name"] = "elsewhere.jpg"
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(BadInput, match=r"1 annotated image\(s\) match no item.*'elsewhere.jpg'"):
        into(server, pid, path)
    assert all(not v for v in documents(server, pid).values())


def test_api_dry_run_then_import(server: Server, admin: TestClient, testdata: Path) -> None:
    pid = annotated(server, testdata)
    files = upload(testdata / "coco/xtcocoapi_examples", "example_coco_preds.json")
    url = f"/api/projects/{pid}/import-annotations"
    r = admin.post(url, files=files, params={"dry_run": "true"})
    assert r.status_code == 200, r.text
    assert r.json()["items_with_instances"] == 4 and r.json()["dry_run"] is True
    r = admin.post(url, files=files)
    assert r.status_code == 400 and "choose what to do" in r.json()["detail"]
    r = admin.post(url, files=files, params={"policy": "add"})
    assert r.status_code == 200, r.text
    assert r.json()["instances_added"] == 73
    r = admin.post(url, files=files, params={"policy": "sometimes"})
    assert r.status_code == 400 and "policy" in r.json()["detail"]


def test_cli_into_existing(db_url: str, tmp_path: Path, testdata: Path) -> None:
    runner = CliRunner()
    common = ["--data", str(tmp_path / "data"), "--db", db_url]
    source = str(testdata / MMPOSE / "test_coco.json")
    r = runner.invoke(app, ["import", "P", source, *common])
    assert r.exit_code == 0, r.output
    assert "created project 'P' (built-in skeleton coco17)" in r.stderr
    preds = str(testdata / PREDS)
    r = runner.invoke(app, ["import", "P", preds, "--into-existing", *common])
    assert r.exit_code == 1 and "choose what to do" in r.stderr
    r = runner.invoke(app, ["import", "P", preds, "--into-existing", "--policy", "add", *common])
    assert r.exit_code == 0, r.output
    assert "added 73 suggestions to 4 of 4 matched items of 'P'" in r.stdout
    # the command refreshes the QA findings of the items after its commit, timing both
    assert re.search(
        r"\) in \d+\.\d s\nQA findings of 4 items \(87 instances\) refreshed in", r.stdout
    )
    store = open_store(db_url)
    try:
        with store.session() as session:
            pid = find_project(session, "P").id
            assert pending_count(session, pid) == 0
            assert session.query(QaInstance).filter_by(project_id=pid).count() == 14 + 73
    finally:
        store.dispose()
