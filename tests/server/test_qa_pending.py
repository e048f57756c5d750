"""The QA refresh after an import (services/qa_rerun.py ``pending=True``, operation
``qa-refresh``) on SQLite and PostgreSQL: an import marks the items it wrote in its own
transaction, the refresh that follows its commit gives the findings a whole-project run
gives and unmarks them, a failed import leaves no mark, a save still refreshes its item
at once, a stopped refresh goes on where it stopped, and the pages say how many items
await it meanwhile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from serverkit import MMPOSE, Server, upload
from sqlalchemy import select

from posemark.services import import_existing
from posemark.services import qa_rerun as qa_rerun_module
from posemark.services.errors import Conflict
from posemark.services.import_existing import import_into_existing
from posemark.services.importing import import_path
from posemark.services.projects import create_project, find_project, project_skeleton
from posemark.services.qa_operation import queue_refresh
from posemark.services.qa_rerun import rerun_project_qa
from posemark.services.qa_store import ITEM_CHECKS, stored_prior
from posemark.services.staging import Staging
from posemark.store.models import Item
from posemark.store.operation_models import Operation
from posemark.store.qa_models import ProjectQa, QaFinding, QaInstance, QaPending

PREDS = "coco/xtcocoapi_examples/example_coco_preds.json"


def _findings(server: Server, pid: int) -> list[tuple[Any, ...]]:
    """Every kept finding and person of the project, without row ids."""
    with server.session() as s:
        found = [
            ("finding", f.item_id, f.instance_index, f.instance_id, f.keypoint, f.check, *rest)
            for f in s.scalars(select(QaFinding).where(QaFinding.project_id == pid))
            for rest in [(f.severity, f.message)]
        ]
        people = [
            ("person", p.item_id, p.instance_index, p.instance_id, p.labeled, p.risk, p.track_id)
            for p in s.scalars(select(QaInstance).where(QaInstance.project_id == pid))
        ]
    return sorted(found, key=repr) + sorted(people, key=repr)


def _pending(server: Server, pid: int) -> set[int]:
    with server.session() as s:
        return set(s.scalars(select(QaPending.item_id).where(QaPending.project_id == pid)))


def _imported(server: Server, testdata: Path, name: str = "p") -> int:
    """A coco17 project with the mmpose sample imported through the service (no refresh)."""
    with server.session() as s:
        project = create_project(s, server.settings, name, "coco17")
        import_path(s, server.settings, project, testdata / MMPOSE / "test_coco.json")
        return project.id


def _refresh(server: Server, pid: int) -> None:
    with server.session() as s:
        assert queue_refresh(s, lambda _op: None, pid) is not None
    assert server.run_operations() == ["done"]


def test_an_import_marks_its_items_and_the_refresh_gives_the_whole_run_findings(
    server: Server, testdata: Path
) -> None:
    """The import commits its items marked and without findings; the refresh learns the
    project's first prior from them and writes, finding by finding, what the checks of
    a whole-project run write (which is what the import's own refresh wrote when it ran
    inside the import's transaction: the same prior, the same batches)."""
    pid = _imported(server, testdata)
    with server.session() as s:
        ids = set(s.scalars(select(Item.id).where(Item.project_id == pid)))
        state = s.get(ProjectQa, pid)
        assert state is not None and state.prior is None
    assert _pending(server, pid) == ids and len(ids) == 4
    assert _findings(server, pid) == []
    _refresh(server, pid)
    assert _pending(server, pid) == set()
    after = _findings(server, pid)
    assert sum(r[0] == "person" for r in after) == 14
    assert sum(r[0] == "finding" for r in after) > 0
    with server.session() as s:
        state = s.get(ProjectQa, pid)
        assert state is not None and state.prior and state.prior["fractions"]
        learned = dict(state.prior)
        state.prior = None  # the whole-project run learns it again from every item
        s.commit()
        rerun_project_qa(s, pid)
        state = s.get(ProjectQa, pid)
        assert state is not None and state.prior == learned
    assert _findings(server, pid) == after


def test_predictions_into_existing_items_are_refreshed_with_the_kept_prior(
    server: Server, testdata: Path
) -> None:
    """Into existing items: the marked items' findings after the refresh are those the
    in-transaction refresh wrote (every check over each changed item, the kept prior),
    checked against the checks run on each stored document."""
    from posemark.qa import run_checks
    from posemark.qa.document import document_dataset

    pid = _imported(server, testdata)
    _refresh(server, pid)
    before = _findings(server, pid)
    with server.session() as s:
        prior = dict(s.get(ProjectQa, pid).prior or {})  # type: ignore[union-attr]
        report = import_into_existing(s, find_project(s, str(pid)), testdata / PREDS, policy="add")
    assert report.instances_added == 73
    assert len(_pending(server, pid)) == 4
    assert _findings(server, pid) == before  # the old findings, marked as awaiting refresh
    _refresh(server, pid)
    assert _pending(server, pid) == set()
    with server.session() as s:
        assert dict(s.get(ProjectQa, pid).prior or {}) == prior  # type: ignore[union-attr]
        skeleton = project_skeleton(find_project(s, str(pid)))
        kept_prior = stored_prior(s, pid)
        expected = set()
        for item in s.scalars(select(Item).where(Item.project_id == pid)):
            dataset = document_dataset(item.annotation, skeleton, item.width, item.height)
            for f in run_checks(dataset, prior=kept_prior, only=ITEM_CHECKS):
                expected.add((item.id, f.annotation_id, f.check, f.keypoint, f.severity))
    found = {(r[1], r[2], r[5], r[4], r[6]) for r in _findings(server, pid) if r[0] == "finding"}
    assert found == expected
    assert sum(r[0] == "person" for r in _findings(server, pid)) == 14 + 73


def test_a_failed_import_leaves_no_mark(
    server: Server, testdata: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The marks are written in the import's transaction: an import that fails after
    writing them (its files cannot be moved into place; a cancel between two chunks of
    an import into existing items) leaves neither items nor marks."""
    with server.session() as s:
        project = create_project(s, server.settings, "p", "coco17")
        pid = project.id

    def no_room(self: Staging, *args: Any) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(Staging, "publish", no_room)
        with server.session() as s, pytest.raises(OSError, match="No space left"):
            import_path(
                s, server.settings, find_project(s, str(pid)), testdata / MMPOSE / "test_coco.json"
            )
    assert server.item_count(pid) == 0
    assert _pending(server, pid) == set()

    pid = _imported(server, testdata, "q")
    _refresh(server, pid)
    monkeypatch.setattr(import_existing, "_CHUNK", 1)  # a chunk per item
    asked = iter([False, False, True])
    with server.session() as s, pytest.raises(Conflict, match="nothing was imported"):
        import_into_existing(
            s,
            find_project(s, str(pid)),
            testdata / PREDS,
            policy="add",
            should_stop=lambda: next(asked),
        )
    assert _pending(server, pid) == set()


def test_a_save_refreshes_its_item_at_once_while_others_await(
    server: Server, admin: TestClient, testdata: Path
) -> None:
    """A save during the wait writes its item's findings in its own transaction, as
    always; the refresh then takes the item with the others (against the prior it
    learns from all of them, so only the prior-free findings are compared)."""
    pid = _imported(server, testdata)
    iid = min(_pending(server, pid))
    item = admin.get(f"/api/items/{iid}").json()
    doc = item["annotation"]
    person = doc["instances"][0]
    person["keypoints"][0] = [9000.0, 20.0, 2]  # the nose far outside the image
    r = admin.put(
        f"/api/items/{iid}/annotation", json={"base_version": item["version"], "annotation": doc}
    )
    assert r.status_code == 200, r.text
    saved = [r for r in _findings(server, pid) if r[1] == iid]
    assert ("finding", iid, 0, person["id"], "nose", "outside_image") in {r[:6] for r in saved}
    assert {r[1] for r in _findings(server, pid)} == {iid}  # the others await the refresh
    _refresh(server, pid)
    assert _pending(server, pid) == set()
    outside = {r[:6] for r in saved if r[0] == "finding" and r[5] == "outside_image"}
    assert outside and outside <= {r[:6] for r in _findings(server, pid)}


def test_the_pages_count_the_items_awaiting_refresh(
    server: Server, admin: TestClient, testdata: Path
) -> None:
    """While items await their refresh the QA page and the report say how many, and a
    QA request that finds no refresh queued or running queues one (once)."""
    pid = _imported(server, testdata)
    body = admin.get(f"/api/projects/{pid}/qa").json()
    assert (body["awaiting_refresh"], body["total"]) == (4, 0)
    assert admin.get(f"/api/projects/{pid}/qa").json()["awaiting_refresh"] == 4
    with server.session() as s:
        queued = s.scalars(select(Operation.kind).where(Operation.project_id == pid)).all()
    assert list(queued) == ["qa-refresh"]
    report = admin.get(f"/api/projects/{pid}/report").json()
    assert report["findings"]["awaiting_refresh"] == 4
    assert server.run_operations() == ["done"]
    body = admin.get(f"/api/projects/{pid}/qa").json()
    assert body["awaiting_refresh"] == 0 and body["total"] > 0
    assert admin.get(f"/api/projects/{pid}/report").json()["findings"]["awaiting_refresh"] == 0


def test_an_upload_queues_the_refresh(server: Server, admin: TestClient, testdata: Path) -> None:
    r = admin.post("/api/projects", json={"name": "up", "skeleton": "coco17"})
    pid = r.json()["id"]
    folder = testdata / MMPOSE
    files = upload(folder, "test_coco.json", *sorted(p.name for p in folder.glob("*.jpg")))
    assert admin.post(f"/api/projects/{pid}/import", files=files).status_code == 200
    ops = admin.get(f"/api/projects/{pid}/operations?active=true").json()["operations"]
    assert [(o["kind"], o["state"]) for o in ops] == [("qa-refresh", "queued")]
    assert len(_pending(server, pid)) == 4
    assert server.run_operations() == ["done"]
    assert _pending(server, pid) == set()


def test_a_stopped_refresh_goes_on_where_it_stopped(
    server: Server, testdata: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The marks are the refresh's checkpoint: a run stopped after its first batches
    leaves exactly the items it did not write marked, and the next run finishes them
    with the findings one whole run gives."""
    monkeypatch.setattr(qa_rerun_module, "BATCH_ITEMS", 1)  # a batch per item
    whole = _imported(server, testdata, "whole")
    _refresh(server, whole)
    expected = _findings(server, whole)
    pid = _imported(server, testdata, "stopped")
    with server.session() as s:  # stopped once two items are written (the prior learned)
        out = rerun_project_qa(
            s, pid, should_stop=lambda: len(_pending(server, pid)) <= 2, pending=True
        )
    assert out["stopped"] is True and out["items"] == 2
    assert len(_pending(server, pid)) == 2
    with server.session() as s:
        out = rerun_project_qa(s, pid, pending=True)
    assert out["items"] == 2 and _pending(server, pid) == set()
    resumed = _findings(server, pid)
    offset = min(r[1] for r in expected) - min(r[1] for r in resumed)
    assert sorted(((r[0], r[1] + offset, *r[2:]) for r in resumed), key=repr) == expected


def test_images_without_people_await_nothing(
    server: Server, admin: TestClient, testdata: Path
) -> None:
    """Items without people have no findings to refresh: an import of images alone
    marks nothing and queues no refresh."""
    r = admin.post("/api/projects", json={"name": "bare", "skeleton": "coco17"})
    pid = r.json()["id"]
    folder = testdata / MMPOSE
    files = upload(folder, *sorted(p.name for p in folder.glob("*.jpg")))
    assert admin.post(f"/api/projects/{pid}/import", files=files).status_code == 200
    assert server.item_count(pid) == 4 and _pending(server, pid) == set()
    assert admin.get(f"/api/projects/{pid}/operations").json()["operations"] == []
