"""Kept QA findings (services/qa_store.py) on SQLite and PostgreSQL: a save replaces
exactly its item's findings, the project-wide run agrees with the checks run on the
whole project, a project without kept findings gets them on its first QA request, and
the QA route pages through them with filters and database counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from serverkit import MMPOSE, Server, upload
from sqlalchemy import case, delete, func, select

from posemark.services.prelabel import store_suggestions
from posemark.services.qa_rerun import rerun_project_qa
from posemark.services.qa_runs import item_findings, project_findings
from posemark.services.qa_store import SEQUENCE_CHECKS
from posemark.store.models import Item, Project
from posemark.store.qa_models import ProjectQa, QaCount, QaFinding, QaInstance, QaRisk


def _stored(server: Server, pid: int) -> list[tuple[Any, ...]]:
    with server.session() as s:
        rows = s.scalars(select(QaFinding).where(QaFinding.project_id == pid)).all()
        return sorted(
            (
                f.id,
                f.item_id,
                f.instance_index,
                f.instance_id,
                f.keypoint,
                f.check,
                f.severity,
                f.message,
            )
            for f in rows
        )


def _items(admin: TestClient, pid: int) -> dict[str, int]:
    r = admin.get(f"/api/projects/{pid}/items")
    assert r.status_code == 200, r.text
    return {i["file_name"]: i["id"] for i in r.json()["items"]}


def _save(admin: TestClient, iid: int, change: Any) -> None:
    item = admin.get(f"/api/items/{iid}").json()
    doc = item["annotation"]
    change(doc)
    r = admin.put(
        f"/api/items/{iid}/annotation", json={"base_version": item["version"], "annotation": doc}
    )
    assert r.status_code == 200, r.text


def _located(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Findings without their row ids, for comparing two computations."""
    return sorted(r[1:] for r in rows)


def test_a_save_replaces_only_its_items_findings(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    before = _stored(server, coco_project)
    assert before, "the sample has findings (see test_api_qa.py)"
    iid = _items(admin, coco_project)["000000000785.jpg"]

    def nose_outside(doc: dict[str, Any]) -> None:
        doc["instances"][0]["keypoints"][0] = [700.0, 20.0, 2]  # the image is 640 wide

    _save(admin, iid, nose_outside)
    after = _stored(server, coco_project)
    others_before = [r for r in before if r[1] != iid]
    others_after = [r for r in after if r[1] != iid]
    assert others_after == others_before  # same rows, same ids: untouched
    mine = [r for r in after if r[1] == iid]
    assert [(r[4], r[5], r[6]) for r in mine if r[5] == "outside_image"] == [
        ("nose", "outside_image", "error")
    ]
    # saving the same document again rewrites the item's rows to the same findings
    _save(admin, iid, lambda doc: None)
    again = _stored(server, coco_project)
    assert [r for r in again if r[1] != iid] == others_before
    assert _located([r for r in again if r[1] == iid]) == _located(mine)


def test_the_project_run_agrees_with_the_whole_project_checks(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    """The import learned the prior from its items and checked them as one dataset: the
    same findings as the checks on the whole project; a project-wide run keeps them."""
    with server.session() as s:
        project = s.get(Project, coco_project)
        assert project is not None
        whole = sorted(
            (
                p.item_id,
                p.instance_id,
                p.finding.keypoint,
                p.finding.check,
                p.finding.severity,
                p.finding.message,
            )
            for p in project_findings(s, project)
        )
    kept = sorted((r[1], r[3], r[4], r[5], r[6], r[7]) for r in _stored(server, coco_project))
    assert kept == whole
    calls: list[tuple[int, int | None]] = []
    with server.session() as s:
        out = rerun_project_qa(s, coco_project, progress=lambda d, t: calls.append((d, t)))
    assert out == {"items": 4, "instances": 14, "findings": len(whole), "stopped": False}
    assert calls[-1] == (8, 8)  # both passes over the 4 items
    rerun = sorted((r[1], r[3], r[4], r[5], r[6], r[7]) for r in _stored(server, coco_project))
    assert rerun == whole


def test_a_stopped_run_says_so(server: Server, coco_project: int) -> None:
    with server.session() as s:
        out = rerun_project_qa(s, coco_project, should_stop=lambda: True)
        assert out["stopped"] is True
        state = s.get(ProjectQa, coco_project)
        assert state is not None and state.state == "filling"


def test_first_request_fills_a_project_without_kept_findings(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    expected = _located(_stored(server, coco_project))
    with server.session() as s:  # as a project from before findings were kept
        s.execute(delete(QaFinding).where(QaFinding.project_id == coco_project))
        s.execute(delete(QaCount).where(QaCount.project_id == coco_project))
        s.execute(delete(ProjectQa).where(ProjectQa.project_id == coco_project))
    r = admin.get(f"/api/projects/{coco_project}/qa")
    assert r.status_code == 200, r.text  # answers at once; a worker fills the findings
    assert (r.json()["state"], r.json()["total"]) == ("filling", 0)
    listed = f"/api/projects/{coco_project}/operations?active=true"
    ops = admin.get(listed).json()["operations"]
    assert [(o["kind"], o["state"], o["params"]) for o in ops] == [
        ("qa-rerun", "queued", {"first_fill": True})
    ]
    assert admin.get(
        f"/api/projects/{coco_project}/gallery", params={"keypoint": "nose"}
    ).is_success
    assert len(admin.get(listed).json()["operations"]) == 1
    assert server.run_operations() == ["done"]
    assert admin.get(f"/api/projects/{coco_project}/qa").json()["state"] == "done"
    assert _located(_stored(server, coco_project)) == expected


def _all_pages(admin: TestClient, pid: int, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        r = admin.get(f"/api/projects/{pid}/qa", params=query)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["findings"]) <= 2
        found.extend(body["findings"])
        cursor = body["next_cursor"]
        if cursor is None:
            return found


def test_findings_page_filter_and_count(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    iid = _items(admin, coco_project)["000000000785.jpg"]

    def nose_outside(doc: dict[str, Any]) -> None:
        doc["instances"][0]["keypoints"][0] = [700.0, 20.0, 2]

    _save(admin, iid, nose_outside)
    full = admin.get(f"/api/projects/{coco_project}/qa", params={"limit": 1000}).json()
    everything = full["findings"]
    assert full["total"] == len(everything) == len(_stored(server, coco_project))
    assert full["next_cursor"] is None
    assert len(everything) > 4
    paged = _all_pages(admin, coco_project)
    assert [f["id"] for f in paged] == [f["id"] for f in everything]
    assert len({f["id"] for f in paged}) == len(paged)
    # offset: the same order, from anywhere
    r = admin.get(f"/api/projects/{coco_project}/qa", params={"limit": 3, "offset": 2})
    assert [f["id"] for f in r.json()["findings"]] == [f["id"] for f in everything[2:5]]
    # counts per check and severity come from the database and match the rows
    per = full["severity_counts"]
    for check, by_sev in per.items():
        for sev, n in by_sev.items():
            assert n == sum(f["check"] == check and f["severity"] == sev for f in everything)
    assert full["counts"] == {c: sum(v.values()) for c, v in per.items()}
    # filters, alone and together, each paged to the end
    for params in ({"check": "outside_image"}, {"severity": "error"}, {"severity": "info"}):
        got = _all_pages(admin, coco_project, **params)
        want = [
            f
            for f in everything
            if all(f[k] == v for k, v in params.items())  # check / severity
        ]
        assert [f["id"] for f in got] == [f["id"] for f in want], params
    shown = _all_pages(admin, coco_project, severity="error,warning")  # the page's default
    assert [f["id"] for f in shown] == [f["id"] for f in everything if f["severity"] != "info"]
    both = _all_pages(admin, coco_project, check="outside_image", severity="error")
    assert [(f["item_id"], f["keypoint"]) for f in both] == [(iid, "nose")]
    assert all(f["file_name"] and f["instance_id"] for f in everything)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"check": "no_such_check"}, "check: expected one of"),
        ({"severity": "fatal"}, "severity: expected one or more"),
        ({"cursor": "abc"}, "cursor: expected the next_cursor"),
        ({"limit": 0}, "paging: expected"),
    ],
)
def test_bad_paging_is_a_located_error(
    admin: TestClient, coco_project: int, params: dict[str, Any], message: str
) -> None:
    r = admin.get(f"/api/projects/{coco_project}/qa", params=params)
    assert r.status_code == 400, r.text
    assert message in r.text


def test_new_thresholds_make_the_findings_stale_until_a_rerun(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    assert admin.get(f"/api/projects/{coco_project}/qa").json()["stale"] is False
    settings = admin.get(f"/api/projects/{coco_project}/workflow").json()
    settings.pop("checks")
    settings["qa"]["thresholds"] = {"min_labeled": 17}
    r = admin.put(f"/api/projects/{coco_project}/workflow", json=settings)
    assert r.status_code == 200, r.text
    assert admin.get(f"/api/projects/{coco_project}/qa").json()["stale"] is True
    r = admin.post(f"/api/projects/{coco_project}/qa/rerun")
    assert r.status_code == 202, r.text
    assert (r.json()["kind"], r.json()["state"]) == ("qa-rerun", "queued")
    again = admin.post(f"/api/projects/{coco_project}/qa/rerun")
    assert again.status_code == 409 and "already being re-run" in again.json()["detail"]
    assert admin.get(f"/api/projects/{coco_project}/qa").json()["stale"] is True
    assert server.run_operations() == ["done"]
    body = admin.get(f"/api/projects/{coco_project}/qa", params={"check": "too_few_keypoints"})
    assert body.json()["stale"] is False
    # every person of the sample with fewer than 17 labeled keypoints is flagged now
    assert body.json()["total"] > 0
    assert not set(SEQUENCE_CHECKS) & set(body.json()["counts"])  # no tracks in the sample


def _item_rows(server: Server, iid: int) -> list[tuple[Any, ...]]:
    with server.session() as s:
        rows = s.scalars(select(QaFinding).where(QaFinding.item_id == iid)).all()
        return sorted((f.instance_id, f.keypoint, f.check, f.severity, f.message) for f in rows)


def _live(server: Server, pid: int, iid: int) -> list[tuple[Any, ...]]:
    """The item's findings computed now, without image evidence (what a save keeps)."""
    with server.session() as s:
        project = s.get(Project, pid)
        assert project is not None
        return sorted(
            (
                p.instance_id,
                p.finding.keypoint,
                p.finding.check,
                p.finding.severity,
                p.finding.message,
            )
            for p in item_findings(s, project, iid)
        )


def test_restore_and_prelabel_writes_replace_the_items_findings(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    ids = _items(admin, coco_project)
    iid = ids["000000000785.jpg"]
    clean = _item_rows(server, iid)

    def nose_outside(doc: dict[str, Any]) -> None:
        doc["instances"][0]["keypoints"][0] = [700.0, 20.0, 2]

    _save(admin, iid, nose_outside)
    broken = _item_rows(server, iid)
    assert broken != clean and broken == _live(server, coco_project, iid)
    version = admin.get(f"/api/items/{iid}").json()["version"]
    r = admin.post(f"/api/items/{iid}/restore", json={"version": 1, "base_version": version})
    assert r.status_code == 200, r.text
    assert _item_rows(server, iid) == clean

    # a pre-label write (what a pre-label job stores on an empty item)
    other = ids["000000040083.jpg"]
    person = admin.get(f"/api/items/{iid}").json()["annotation"]["instances"][0]
    person = {**person, "source": "model", "confirmed": False}
    person["keypoints"][0] = [9000.0, 20.0, 2]  # far outside the image
    before = {r[0] for r in _stored(server, coco_project) if r[1] != other}
    with server.session() as s:
        version = admin.get(f"/api/items/{other}").json()["version"]
        assert store_suggestions(s, other, version, [person]) is True
        s.commit()
    rows = _item_rows(server, other)
    assert (person["id"], "nose", "outside_image", "error") in {r[:4] for r in rows}
    assert rows == _live(server, coco_project, other)
    assert {r[0] for r in _stored(server, coco_project) if r[1] != other} == before
    # the people of the item as the gallery and review read them: one, its nose labeled
    with server.session() as s:
        people = s.scalars(select(QaInstance).where(QaInstance.item_id == other)).all()
        assert [(p.instance_id, p.labeled[0]) for p in people] == [(person["id"], "1")]
        assert people[0].risk >= 1.0


def test_the_run_in_a_worker_process_keeps_the_same_findings(
    server: Server, coco_project: int
) -> None:
    """The checks of a large project run in worker processes: the same rows come back."""
    inline = _located(_stored(server, coco_project))
    with server.session() as s:
        out = rerun_project_qa(s, coco_project, workers=1)
    assert out["stopped"] is False and out["findings"] == len(inline)
    assert _located(_stored(server, coco_project)) == inline


def _kept_rows(server: Server, pid: int) -> dict[str, Any]:
    """Everything a project-wide run leaves: findings and people (without row ids),
    totals and the learned prior."""
    with server.session() as s:
        people = s.scalars(select(QaInstance).where(QaInstance.project_id == pid)).all()
        counts = s.execute(
            select(QaCount.key, QaCount.n).where(QaCount.project_id == pid, QaCount.n != 0)
        ).all()
        state = s.get(ProjectQa, pid)
        assert state is not None
        return {
            "findings": _located(_stored(server, pid)),
            "people": sorted(
                (p.item_id, p.instance_index, p.instance_id, p.labeled, p.risk, p.track_id)
                for p in people
            ),
            "counts": sorted((key, int(n)) for key, n in counts),
            "prior": state.prior,
            "state": (state.state, state.items_checked),
        }


def test_two_worker_processes_keep_every_row_the_inline_run_keeps(
    server: Server, coco_project: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The re-run split into one-item batches, checked by two worker processes while
    this one writes, leaves the same findings, people, totals and prior, row for row,
    as the run done all in this process."""
    from posemark.services import qa_rerun

    with server.session() as s:
        rerun_project_qa(s, coco_project, workers=0)
    inline = _kept_rows(server, coco_project)
    assert inline["findings"] and inline["people"] and inline["prior"]
    monkeypatch.setattr(qa_rerun, "BATCH_ITEMS", 1)
    with server.session() as s:
        s.execute(delete(QaFinding).where(QaFinding.project_id == coco_project))
        s.execute(delete(QaInstance).where(QaInstance.project_id == coco_project))
        s.commit()
        out = rerun_project_qa(s, coco_project, workers=2)
    assert out["stopped"] is False and out["findings"] == len(inline["findings"])
    assert _kept_rows(server, coco_project) == inline


def test_an_empty_project_learns_its_prior_from_its_first_import(
    server: Server, admin: TestClient, testdata: Path
) -> None:
    """A run over a project with nobody in it learns nothing and keeps no prior, so the
    first import still learns one (the people it brings)."""
    r = admin.post("/api/projects", json={"name": "empty-first", "skeleton": "coco17"})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    with server.session() as s:
        rerun_project_qa(s, pid)
        state = s.get(ProjectQa, pid)
        assert state is not None and state.prior is None
    folder = testdata / MMPOSE
    files = upload(folder, "test_coco.json", *sorted(p.name for p in folder.glob("*.jpg")))
    assert admin.post(f"/api/projects/{pid}/import", files=files).status_code == 200
    assert server.run_operations() == ["done"]  # the refresh the import queued
    with server.session() as s:
        state = s.get(ProjectQa, pid)
        assert state is not None and state.prior and state.prior["fractions"]


def _totals(server: Server, pid: int) -> tuple[dict[str, int], dict[str, int]]:
    """(the kept totals, the same counted from the rows)."""
    with server.session() as s:
        kept = {
            key: n
            for key, n in s.execute(
                select(QaCount.key, QaCount.n).where(QaCount.project_id == pid)
            ).all()
            if n
        }
        counted: dict[str, int] = {}
        for check, severity, n in s.execute(
            select(QaFinding.check, QaFinding.severity, func.count())
            .where(QaFinding.project_id == pid)
            .group_by(QaFinding.check, QaFinding.severity)
        ).all():
            counted[f"finding:{check}:{severity}"] = n
        for mask, status in s.execute(
            select(QaInstance.labeled, Item.status)
            .join(Item, Item.id == QaInstance.item_id)
            .where(QaInstance.project_id == pid)
        ):
            for j, c in enumerate(mask):
                if c == "1":
                    counted[f"labeled:{j}"] = counted.get(f"labeled:{j}", 0) + 1
            counted[f"people:{status}"] = counted.get(f"people:{status}", 0) + 1
        for keypoint, status in s.execute(  # the item's state now, not the row's
            select(QaRisk.keypoint, Item.status)
            .join(Item, Item.id == QaRisk.item_id)
            .where(QaRisk.project_id == pid)
        ):
            key = f"risky:{status}:{keypoint}"
            counted[key] = counted.get(key, 0) + 1
    return kept, counted


def _order(server: Server, pid: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(the kept ``qa_risk`` rows, the same computed from the findings and people by
    grouping them, as the views did before the order was kept)."""
    weight = case((QaFinding.severity == "error", 1.0), (QaFinding.severity == "warning", 0.5))
    with server.session() as s:
        kept = [
            (r.item_id, r.instance_index, r.keypoint, round(r.risk, 6), r.file_name, r.status)
            for r in s.scalars(select(QaRisk).where(QaRisk.project_id == pid))
        ]
        computed = [
            (i, n, "", round(r, 6), name, status)
            for i, n, r, name, status in s.execute(
                select(
                    QaInstance.item_id,
                    QaInstance.instance_index,
                    QaInstance.risk,
                    Item.file_name,
                    Item.status,
                )
                .join(Item, Item.id == QaInstance.item_id)
                .where(QaInstance.project_id == pid, QaInstance.risk > 0)
            )
        ]
        project = s.get(Project, pid)
        assert project is not None
        for k, keypoint in enumerate(project.skeleton["keypoints"]):
            score = func.sum(case((QaFinding.keypoint == keypoint, weight), else_=0.3 * weight))
            computed += [
                (i, n, keypoint, round(r, 6), name, status)
                for i, n, r, name, status in s.execute(
                    select(
                        QaFinding.item_id,
                        QaFinding.instance_index,
                        score,
                        Item.file_name,
                        Item.status,
                    )
                    .join(Item, Item.id == QaFinding.item_id)
                    .join(
                        QaInstance,
                        (QaInstance.item_id == QaFinding.item_id)
                        & (QaInstance.instance_index == QaFinding.instance_index),
                    )
                    .where(
                        QaFinding.project_id == pid,
                        (QaFinding.keypoint == keypoint) | QaFinding.keypoint.is_(None),
                        QaFinding.severity != "info",
                        func.substr(QaInstance.labeled, k + 1, 1) == "1",
                    )
                    .group_by(
                        QaFinding.item_id, QaFinding.instance_index, Item.file_name, Item.status
                    )
                )
            ]
    return sorted(kept), sorted(computed)


def test_the_kept_totals_follow_every_write(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    """Import, save, project-wide run and item deletion each move the totals by what
    they changed, and the QA page, the report and the gallery answer from them."""
    kept, counted = _totals(server, coco_project)
    assert kept == counted and any(k.startswith("finding:") for k in kept)
    assert kept["people:new"] == sum(n for k, n in kept.items() if k.startswith("people:"))
    order, computed = _order(server, coco_project)
    assert order == computed and any(r[2] == "" for r in order) and any(r[2] for r in order)
    items = _items(admin, coco_project)
    iid = items["000000000785.jpg"]

    def nose_outside(doc: dict[str, Any]) -> None:
        doc["instances"][0]["keypoints"][0] = [700.0, 20.0, 2]

    def unlabel_all_but_two(doc: dict[str, Any]) -> None:
        for kp in doc["instances"][0]["keypoints"][2:]:
            kp[:] = [None, None, 0]

    _save(admin, iid, nose_outside)
    kept, counted = _totals(server, coco_project)
    assert kept == counted and kept["finding:outside_image:error"] >= 1
    assert kept["people:annotating"] >= 1  # the save moved the item and its people
    assert _order(server, coco_project)[0] == _order(server, coco_project)[1]
    assert ((iid, 0, "nose"), 1.0) <= next(
        ((r[0], r[1], r[2]), r[3])
        for r in _order(server, coco_project)[0]
        if r[:3] == (iid, 0, "nose")
    )
    labeled_before = kept["labeled:5"]
    _save(admin, iid, unlabel_all_but_two)
    kept, counted = _totals(server, coco_project)
    assert kept == counted and kept["labeled:5"] == labeled_before - 1
    assert _order(server, coco_project)[0] == _order(server, coco_project)[1]
    waiting = max(i for i in items.values() if i != iid)
    for status in ("annotating", "submitted"):  # each move takes its people along
        r = admin.post(f"/api/items/{waiting}/status", json={"status": status})
        assert r.status_code == 200, r.text
    kept, counted = _totals(server, coco_project)
    assert kept == counted and kept["people:submitted"] >= 1
    review = admin.get(f"/api/projects/{coco_project}/review/instances").json()
    assert review["total"] == kept["people:submitted"]
    with server.session() as s:
        s.execute(delete(QaRisk).where(QaRisk.item_id == iid))  # behind the store's back
        s.commit()
        rerun_project_qa(s, coco_project, workers=0)
    assert _totals(server, coco_project)[0] == _totals(server, coco_project)[1]
    assert _order(server, coco_project)[0] == _order(server, coco_project)[1]
    gone = next(i for name, i in items.items() if i not in (iid, waiting))
    assert admin.delete(f"/api/items/{gone}").status_code == 204
    kept, counted = _totals(server, coco_project)
    assert kept == counted
    order, computed = _order(server, coco_project)
    assert order == computed and all(r[0] != gone for r in order)
    # the routes read the totals
    qa = admin.get(f"/api/projects/{coco_project}/qa", params={"limit": 1}).json()
    findings = {k: n for k, n in kept.items() if k.startswith("finding:")}
    assert qa["total"] == sum(findings.values())
    errors = admin.get(
        f"/api/projects/{coco_project}/qa", params={"severity": "error", "limit": 1}
    ).json()
    assert errors["total"] == sum(n for k, n in findings.items() if k.endswith(":error"))
    report = admin.get(f"/api/projects/{coco_project}/report", params={"format": "json"})
    assert report.json()["findings"]["total"] == qa["total"]
    gallery = admin.get(f"/api/projects/{coco_project}/gallery", params={"keypoint": "nose"})
    assert gallery.json()["total"] == kept["labeled:0"]


def test_the_checking_processes_run_below_the_writer() -> None:
    """The re-run's pool processes (the bulk of its CPU) step below the process that
    writes and holds the write lock; that one keeps its priority."""
    import os

    from posemark.services import qa_rerun

    own = os.getpriority(os.PRIO_PROCESS, 0)
    pool = qa_rerun._pool(2)
    try:
        seen = {pool.submit(os.getpriority, os.PRIO_PROCESS, 0).result() for _ in range(4)}
    finally:
        pool.shutdown()
    assert seen == {min(19, own + qa_rerun.POOL_NICENESS)}
    assert os.getpriority(os.PRIO_PROCESS, 0) == own


def test_totals_heal_keeps_a_save_made_while_the_rows_are_counted(
    server: Server, admin: TestClient, coco_project: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project-wide run first heals totals that drifted from the rows. The rows are
    counted in a read snapshot while annotators go on saving: a save committed during
    the count moves the totals itself, and the correction neither loses nor repeats it."""
    from posemark.services import qa_store

    iid = _items(admin, coco_project)["000000000785.jpg"]
    with server.session() as s:  # drift: a finding removed behind the store's back
        victim = s.scalars(select(QaFinding).where(QaFinding.project_id == coco_project)).first()
        assert victim is not None
        lost = f"finding:{victim.check}:{victim.severity}"
        s.delete(victim)
        s.commit()
    kept, counted = _totals(server, coco_project)
    assert kept[lost] == counted.get(lost, 0) + 1

    def nose_outside(doc: dict[str, Any]) -> None:
        doc["instances"][0]["keypoints"][0] = [700.0, 20.0, 2]

    real = qa_store.row_totals
    saved: list[int] = []

    def counting_while_a_save_commits(session: Any, project_id: int) -> Any:
        counts = real(session, project_id)
        _save(admin, iid, nose_outside)  # another connection, the snapshot still open
        saved.append(iid)
        return counts

    monkeypatch.setattr(qa_store, "row_totals", counting_while_a_save_commits)
    with server.session() as s:
        drift = qa_store.heal_totals(s, coco_project)
        s.commit()
    assert saved and drift[(coco_project, lost)] == -1
    kept, counted = _totals(server, coco_project)
    assert kept == counted
    assert kept["finding:outside_image:error"] >= 1  # the save's own finding is counted


def test_a_batch_is_written_a_few_items_per_transaction(
    server: Server, coco_project: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run writes a batch's findings ``WRITE_ITEMS`` items per transaction (a save
    waits for SQLite's write lock at most one short part), and leaves exactly what the
    batch written at once leaves."""
    from posemark.services import qa_rerun

    with server.session() as s:
        rerun_project_qa(s, coco_project, workers=0)
    whole = _kept_rows(server, coco_project)
    monkeypatch.setattr(qa_rerun, "WRITE_ITEMS", 1)
    parts: list[int] = []
    real = qa_rerun._write_part

    def counted(session: Any, project_id: int, part: Any, kept: Any, pending: bool) -> int:
        parts.append(len(part))
        return real(session, project_id, part, kept, pending)

    monkeypatch.setattr(qa_rerun, "_write_part", counted)
    with server.session() as s:
        rerun_project_qa(s, coco_project, workers=0)
    with server.session() as s:
        items = s.scalar(select(func.count()).where(Item.project_id == coco_project))
    assert parts == [1] * int(items or 0)
    assert _kept_rows(server, coco_project) == whole
