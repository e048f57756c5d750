"""The report, agreement, overlap, gold and consensus routes: who may call them, and
what an annotator sees of a gold item over HTTP."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from serverkit import Server
from sqlalchemy import select

from posemark.services.comments import add_comment
from posemark.services.gold import mark_gold
from posemark.services.importing import import_path
from posemark.services.items import get_item, set_status
from posemark.services.jobs import create_jobs
from posemark.services.projects import add_member, create_project, get_project
from posemark.services.report import project_report
from posemark.store.models import Item, Project
from qa_project import MMPOSE_COCO, _user, annotate, build, noisy


@pytest.fixture
def qa(server: Server, testdata: Path):  # type: ignore[no-untyped-def]
    return build(server.store, server.settings, testdata)


def _check_report_formats(server: Server, qa) -> None:  # type: ignore[no-untyped-def]
    boss = server.login("boss")
    pid = qa.project_id
    r = boss.get(f"/api/projects/{pid}/report")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    over_http = r.json()
    with server.session() as session:
        project = session.get(Project, pid)
        assert project is not None
        direct = project_report(session, project)
    over_http.pop("generated_at")
    direct.pop("generated_at")
    assert over_http == direct
    r = boss.get(f"/api/projects/{pid}/report", params={"format": "csv"})
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert ["rejection", "all", "rate", "0.5"] in rows
    r = boss.get(f"/api/projects/{pid}/report", params={"format": "html"})
    assert r.headers["content-type"].startswith("text/html") and "<svg" in r.text
    assert boss.get(f"/api/projects/{pid}/report", params={"format": "xml"}).status_code == 422
    assert boss.get(f"/api/projects/{pid}/agreement").json() == direct["agreement"]
    gold = boss.get(f"/api/projects/{pid}/gold").json()
    assert gold == {"items": [qa.gold_item], "accuracy": direct["gold"]}


def test_each_route_per_role_and_the_report_formats(server: Server, qa) -> None:  # type: ignore[no-untyped-def]
    _check_report_formats(server, qa)
    pid, iid = qa.project_id, qa.overlap_item
    server.add_user("stranger")
    clients = {who: server.login(who) for who in ("boss", "rev", "ann1", "stranger")}
    anonymous = server.anonymous()
    reads = [
        f"/api/projects/{pid}/report",
        f"/api/projects/{pid}/report?format=csv",
        f"/api/projects/{pid}/agreement",
    ]
    for path in reads:
        assert clients["boss"].get(path).status_code == 200, path
        assert clients["rev"].get(path).status_code == 200, path
        assert clients["ann1"].get(path).status_code == 403, path
        assert clients["stranger"].get(path).status_code == 404, path
        assert anonymous.get(path).status_code == 401, path
    assert clients["boss"].get(f"/api/projects/{pid}/gold").status_code == 200
    for who in ("rev", "ann1"):
        assert clients[who].get(f"/api/projects/{pid}/gold").status_code == 403
    writes = [
        (f"/api/projects/{pid}/overlap", {"share": 0.5, "annotators_per_item": 2, "seed": 3}),
        (f"/api/projects/{pid}/gold", {"item_ids": [qa.accepted_item]}),
    ]
    for path, body in writes:
        for who in ("rev", "ann1"):
            assert clients[who].post(path, json=body).status_code == 403, (path, who)
        assert clients["stranger"].post(path, json=body).status_code == 404
        assert anonymous.post(path, json=body).status_code == 401
    assert clients["ann1"].post(f"/api/items/{iid}/consensus").status_code == 403
    assert clients["rev"].post(f"/api/items/{qa.accepted_item}/consensus").status_code == 403
    r = clients["boss"].post(f"/api/items/{iid}/consensus")
    assert r.status_code == 200, r.text
    assert r.json()["annotators"] == ["ann1", "ann2", "ann3"]
    r = clients["boss"].post(f"/api/items/{qa.accepted_item}/consensus")
    assert r.status_code == 400 and "consensus needs two or more" in r.json()["detail"]
    r = clients["boss"].post(f"/api/projects/{pid}/overlap", json={"share": 1.5})
    assert r.status_code == 422
    r = clients["boss"].post(f"/api/projects/{pid}/gold", json={"item_ids": [123456]})
    assert r.status_code == 400 and "123456" in r.json()["detail"]


def test_an_annotator_works_on_a_gold_item_like_any_other(server: Server, qa) -> None:  # type: ignore[no-untyped-def]
    boss, ann2 = server.login("boss"), server.login("ann2")
    target = qa.accepted_item  # accepted work becomes a gold item for ann2
    r = boss.post(
        f"/api/projects/{qa.project_id}/gold", json={"item_ids": [target], "annotators": ["ann2"]}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"gold": [target], "replicas": 1}
    seen = ann2.get(f"/api/items/{target}")
    assert seen.status_code == 200
    item = seen.json()
    assert item["annotation"] == {"instances": []}
    assert (item["status"], item["version"], item["can_edit"]) == ("new", 1, True)
    assert "gold" not in seen.text.lower()
    # the shared item's history holds the answer: not for the copy's holder
    for path in (f"/api/items/{target}/history", f"/api/items/{target}/history/1"):
        assert ann2.get(path).status_code == 404, path
    assert boss.get(f"/api/items/{target}/history").status_code == 200
    listed = ann2.get(f"/api/projects/{qa.project_id}/items").json()["items"]
    row = next(r for r in listed if r["id"] == target)
    assert (row["status"], row["version"], row["instances"]) == ("new", 1, 0)
    doc = noisy(qa.truth[target], "ann2", target)
    r = ann2.put(f"/api/items/{target}/annotation", json={"base_version": 1, "annotation": doc})
    assert r.status_code == 200 and r.json() == {"version": 2, "status": "annotating"}
    r = ann2.put(f"/api/items/{target}/annotation", json={"base_version": 1, "annotation": doc})
    assert r.status_code == 409 and r.json()["current_version"] == 2
    # the automated checks run on the copy as on any submission: a duplicate is refused
    twice = {"instances": [*doc["instances"], doc["instances"][0] | {"id": "dup"}]}
    r = ann2.put(f"/api/items/{target}/annotation", json={"base_version": 2, "annotation": twice})
    assert r.status_code == 200
    r = ann2.post(f"/api/items/{target}/status", json={"status": "submitted"})
    assert r.status_code == 422 and r.json()["code"] == "qa_failed"
    assert any(f["check"] == "duplicate_instance" for f in r.json()["findings"])
    r = ann2.put(f"/api/items/{target}/annotation", json={"base_version": 3, "annotation": doc})
    assert r.status_code == 200
    r = ann2.post(f"/api/items/{target}/status", json={"status": "submitted"})
    assert r.status_code == 200 and r.json()["status"] == "submitted"
    assert ann2.get(f"/api/items/{target}").json()["status"] == "submitted"
    assert boss.get(f"/api/items/{target}").json()["status"] == "accepted"
    accuracy = boss.get(f"/api/projects/{qa.project_id}/gold").json()["accuracy"]
    ann2_row = next(a for a in accuracy["annotators"] if a["username"] == "ann2")
    assert ann2_row["items"] == 2


def test_the_report_counts_only_its_own_projects_work(server: Server, qa, testdata: Path) -> None:  # type: ignore[no-untyped-def]
    """Saves, review decisions, gold and overlap items of a second project with the same
    people stay out of the first project's report, and make up the second one's."""
    with server.session() as session:
        first = session.get(Project, qa.project_id)
        assert first is not None
        before = project_report(session, first)
        boss, rev = _user(session, "boss"), _user(session, "rev")
        other = create_project(session, server.settings, "other", "coco17", creator=boss)
        access = get_project(session, boss, other.id)
        add_member(session, access, boss, "ann1", "annotator")
        add_member(session, access, boss, "ann2", "annotator")
        add_member(session, access, boss, "rev", "reviewer")
        import_path(session, server.settings, other, testdata / MMPOSE_COCO)
        session.commit()
        ids = sorted(session.scalars(select(Item.id).where(Item.project_id == other.id)).all())
        create_jobs(session, access, boss, item_ids=ids[:1], annotator="ann1", reviewer="rev")
        session.commit()
        mark_gold(session, access, boss, [ids[1]], annotators=["ann2"])
        truth = session.scalar(select(Item.annotation).where(Item.id == ids[0]))
        annotate(session, "ann1", ids[0], noisy(truth, "ann1", ids[0]))
        set_status(session, get_item(session, rev, ids[0]), rev, "in_review")
        add_comment(session, rev, ids[0], "nose?", None, None)
        set_status(session, get_item(session, rev, ids[0]), rev, "returned")
        session.expire_all()
        after = project_report(session, first)
        mine = project_report(session, session.get(Project, other.id))
    for report in (before, after, mine):
        report.pop("generated_at")
    assert after == before
    assert [a["username"] for a in mine["throughput"]["annotators"]] == ["ann1"]
    assert mine["throughput"]["annotators"][0]["items"] == 1
    assert mine["throughput"]["instances"] == len(truth["instances"])
    assert (mine["rejection"]["reviewed"], mine["rejection"]["returned"]) == (1, 1)
    assert mine["rejection"]["annotators"] == [
        {"username": "ann1", "reviewed": 1, "returned": 1, "rate": 1.0}
    ]
    assert mine["gold"] == {"gold_items": 1, "annotators": []}
    assert mine["agreement"]["items"] == []
    assert mine["agreement"]["overall"]["overlap_items"] == 0
