"""The long work of a project as background operations: QA re-run (and the first fill
of a project from before findings were kept), export with its downloadable file,
uploads imported by a worker, and project deletion (hidden at once, removed after).
Run here through ``operations.execute``, the function a worker process calls; the
tests with real worker processes killed mid-way are in test_operations.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from serverkit import MMPOSE, Server, upload
from sqlalchemy import func, select

from posemark.services import operations as ops
from posemark.services import qa_rerun
from posemark.services.import_operation import run_import
from posemark.services.qa_rerun import rerun_project_qa
from posemark.store.models import Item, Project
from posemark.store.operation_models import Operation
from posemark.store.qa_models import QaFinding


def _findings(server: Server, pid: int) -> list[tuple[Any, ...]]:
    with server.session() as s:
        rows = s.scalars(select(QaFinding).where(QaFinding.project_id == pid)).all()
        return sorted(
            (f.item_id, f.instance_index, f.keypoint, f.check, f.severity, f.message) for f in rows
        )


def test_export_operation_leaves_a_file_equal_to_the_direct_export(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    pid = coco_project
    server.add_user("anna")
    admin.post(f"/api/projects/{pid}/members", json={"username": "anna", "role": "annotator"})
    anna = server.login("anna")
    assert anna.post(f"/api/projects/{pid}/exports", json={}).status_code == 403
    r = admin.post(f"/api/projects/{pid}/exports", json={"format": "nope"})
    assert r.status_code == 400 and "format" in r.json()["detail"]
    r = admin.post(f"/api/projects/{pid}/exports", json={"format": "coco"})
    assert r.status_code == 202, r.text
    op = r.json()
    assert (op["kind"], op["state"]) == ("export", "queued")
    assert admin.get(f"/api/projects/{pid}/operations/{op['id']}/file").status_code == 404
    assert server.run_operations() == ["done"]
    done = admin.get(f"/api/projects/{pid}/operations/{op['id']}").json()
    assert done["result"]["instances"] == 14 and done["result"]["images"] == 4
    assert done["done"] == done["total"] and done["total"]
    got = admin.get(f"/api/projects/{pid}/operations/{op['id']}/file")
    assert got.status_code == 200, got.text
    assert 'filename="mmpose-coco.json"' in got.headers["content-disposition"]
    direct = admin.get(f"/api/projects/{pid}/export", params={"format": "coco"})
    assert json.loads(got.content) == json.loads(direct.content)
    assert anna.get(f"/api/projects/{pid}/operations/{op['id']}/file").status_code == 403
    # a folder format comes zipped; a project keeps its newest exports' files only
    later = []
    for fmt in ("yolo", "coco", "coco"):
        later.append(admin.post(f"/api/projects/{pid}/exports", json={"format": fmt}).json())
        assert server.run_operations() == ["done"]
    yolo = admin.get(f"/api/projects/{pid}/operations/{later[0]['id']}/file")
    assert yolo.status_code == 200 and yolo.content[:2] == b"PK"
    gone = admin.get(f"/api/projects/{pid}/operations/{op['id']}/file")
    assert gone.status_code == 404 and "gone" in gone.json()["detail"]
    folders = sorted(p.name for p in (server.settings.data_dir / "operation-files").iterdir())
    assert folders == [f"op-{o['id']}" for o in later]


def test_the_direct_export_refuses_a_project_past_its_bound(
    server: Server, admin: TestClient, coco_project: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from posemark.services import export_operation

    monkeypatch.setattr(export_operation, "DIRECT_EXPORT_ITEMS", 3)
    r = admin.get(f"/api/projects/{coco_project}/export")
    assert r.status_code == 413 and "/exports" in r.json()["detail"]


def test_qa_rerun_resumes_after_its_last_written_batch(
    server: Server, coco_project: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stopped (as a dead worker's is) after two batches, resumed from its last
    checkpoint, checks only the rest and leaves what one whole run leaves."""
    whole = _findings(server, coco_project)
    monkeypatch.setattr(qa_rerun, "BATCH_ITEMS", 1)  # one item per batch: four batches
    points: list[dict[str, Any]] = []
    with server.session() as s:
        first = rerun_project_qa(
            s, coco_project, should_stop=lambda: len(points) >= 3, checkpoint=points.append
        )
    assert first["stopped"] and first["items"] == 2
    assert points[0]["after"] is None and points[-1]["result"]["items"] == 2
    calls: list[tuple[int, int | None]] = []
    with server.session() as s:
        rest = rerun_project_qa(
            s,
            coco_project,
            progress=lambda d, t: calls.append((d, t)),
            resume=points[-1],
            checkpoint=points.append,
        )
    assert rest == {"items": 4, "instances": 14, "findings": len(whole), "stopped": False}
    assert calls == [(7, 8), (8, 8)]  # the prior pass and the first two items not redone
    assert _findings(server, coco_project) == whole


def test_background_import_runs_the_pipeline_all_or_nothing(
    server: Server, admin: TestClient, testdata: Path
) -> None:
    r = admin.post("/api/projects", json={"name": "bg", "skeleton": "coco17"})
    pid = r.json()["id"]
    folder = testdata / MMPOSE
    names = sorted(p.name for p in folder.glob("*.jpg"))
    files = upload(folder, "test_coco.json", *names)
    r = admin.post(f"/api/projects/{pid}/import", params={"background": True}, files=files)
    assert r.status_code == 202, r.text
    assert (r.json()["kind"], r.json()["state"]) == ("import", "queued")
    assert server.item_count(pid) == 0  # the request only kept the files
    kept = server.settings.data_dir / "operation-files"
    assert len(list(kept.iterdir())) == 1
    assert server.run_operations() == ["done", "done"]  # the import, then its QA refresh
    op = admin.get(f"/api/projects/{pid}/operations/{r.json()['id']}").json()
    assert (op["result"]["items_created"], op["result"]["instances"]) == (4, 14)
    assert server.item_count(pid) == 4 and list(kept.iterdir()) == []
    refresh = admin.get(f"/api/projects/{pid}/operations", params={"kind": "qa-refresh"}).json()
    assert [o["result"]["instances"] for o in refresh["operations"]] == [14]
    assert admin.get(f"/api/projects/{pid}/qa").json()["awaiting_refresh"] == 0
    # a bad COCO file: the operation fails naming it, nothing is imported
    bad = [("files", ("bad.json", b'{"images": [}', "application/json"))]
    bad += upload(folder, names[0])
    r = admin.post(f"/api/projects/{pid}/import", params={"background": True}, files=bad)
    other = admin.post("/api/projects", json={"name": "bg2", "skeleton": "coco17"}).json()["id"]
    assert server.run_operations() == ["failed"]
    failed = admin.get(f"/api/projects/{pid}/operations/{r.json()['id']}").json()
    assert "bad.json" in failed["error"] and server.item_count(pid) == 4
    assert list(kept.iterdir()) == []
    # cancelled mid-way (the handler sees should_stop): rolled back, nothing half-visible
    r = admin.post(
        f"/api/projects/{other}/import", params={"background": True}, files=upload(folder, *names)
    )
    with server.session() as s:
        row = s.get(Operation, r.json()["id"])
        assert row is not None
        context = ops.OperationContext(
            operation_id=row.id,
            kind=row.kind,
            params=row.params,
            project_id=row.project_id,
            created_by=row.created_by,
            attempt=1,
            settings=server.settings,
            sessions=server.store.sessionmaker,
            progress=lambda *a: None,
            should_stop=iter([False, False, True]).__next__,
        )
    with pytest.raises(ops.OperationStopped):
        run_import(context)
    assert server.item_count(other) == 0
    assert not (server.settings.media_dir / f"p{other}").exists() or not any(
        (server.settings.media_dir / f"p{other}").iterdir()
    )


def test_project_delete_hides_at_once_and_a_worker_removes_it(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    pid = coco_project
    item = admin.get(f"/api/projects/{pid}/items").json()["items"][0]["id"]
    media = server.settings.media_dir / f"p{pid}"
    assert any(media.iterdir())
    r = admin.delete(f"/api/projects/{pid}", params={"confirm": "mmpose"})
    assert r.status_code == 200, r.text
    deleted = r.json()["deleted"]
    assert (deleted["items"], deleted["members"]) == (4, 1)
    for url in (f"/api/projects/{pid}", f"/api/projects/{pid}/items", f"/api/items/{item}"):
        assert admin.get(url).status_code == 404, url
    assert all(p["id"] != pid for p in admin.get("/api/projects").json())
    again = admin.post("/api/projects", json={"name": "mmpose", "skeleton": "coco17"})
    assert again.status_code == 201  # the name is free at once
    assert server.item_count(pid) == 4  # the rows go in the background
    assert server.run_operations() == ["done"]
    with server.session() as s:
        assert s.get(Project, pid) is None
        assert s.scalar(select(func.count()).where(Item.project_id == pid)) == 0
        op = s.get(Operation, deleted["operation"])
        assert op is not None and op.result == {"items": 4} and op.project_id is None
    assert not media.exists()


def test_report_operation_renders_the_report_to_a_file(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    pid = coco_project
    server.add_user("anna")
    admin.post(f"/api/projects/{pid}/members", json={"username": "anna", "role": "annotator"})
    assert server.login("anna").post(f"/api/projects/{pid}/reports", json={}).status_code == 403
    assert admin.post(f"/api/projects/{pid}/reports", json={"format": "pdf"}).status_code == 422
    op = admin.post(f"/api/projects/{pid}/reports", json={"format": "csv"}).json()
    assert (op["kind"], op["state"]) == ("report", "queued")
    assert server.run_operations() == ["done"]
    got = admin.get(f"/api/projects/{pid}/operations/{op['id']}/file")
    assert (
        got.status_code == 200
        and f'filename="report-{pid}.csv"' in got.headers["content-disposition"]
    )
    direct = admin.get(f"/api/projects/{pid}/report", params={"format": "csv"})
    # the same figures; only the moment the report was made may differ
    strip = [line for line in direct.text.splitlines() if "generated" not in line]
    assert [line for line in got.text.splitlines() if "generated" not in line] == strip
