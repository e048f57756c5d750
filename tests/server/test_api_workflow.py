"""The review workflow through the API: states, jobs, checks on submit, comments, settings.

Runs on the mmpose COCO sample (4 real images, 14 people) on SQLite and PostgreSQL. One
app per backend serves the module; each test makes its own project (and so its own
jobs, items and comments), with the same accounts.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic import command
from fastapi.testclient import TestClient
from serverkit import Server
from sqlalchemy import JSON, TableClause, column, insert, select, table
from workflowkit import PEOPLE, Team, coco_project, document, make_team, module_app, move, save

from dbfixtures import BACKENDS, fresh_postgres_database
from posemark.services.comments import add_comment
from posemark.store import open_store, upgrade_to_head
from posemark.store.migrate import alembic_config
from posemark.store.models import Item, User, UTCDateTime, utcnow


@dataclass
class Crew:
    server: Server
    clients: dict[str, TestClient]
    projects: Iterator[int]

    @property
    def admin(self) -> TestClient:
        return self.clients["admin"]


@pytest.fixture(scope="module", params=BACKENDS)
def crew(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Crew]:
    with module_app(request.param, tmp_path_factory.mktemp("workflow")) as server:
        clients = {"admin": server.admin()}
        for name in PEOPLE:
            server.add_user(name)
            clients[name] = server.login(name)
        yield Crew(server, clients, itertools.count(1))


def new_project(crew: Crew, testdata: Path) -> int:
    return coco_project(crew.admin, testdata, f"mmpose {next(crew.projects)}")


@pytest.fixture
def team(crew: Crew, testdata: Path) -> Team:
    pid = new_project(crew, testdata)
    people = {k: v for k, v in crew.clients.items() if k != "admin"}
    return make_team(crew.server, crew.admin, pid, people)


def comment(client: TestClient, iid: int, text: str, **where: str) -> dict[str, object]:
    r = client.post(f"/api/items/{iid}/comments", json={"text": text, **where})
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


def test_an_item_goes_round_the_review_loop(team: Team) -> None:
    iid = team.job1_items[0]
    doc = document(team.ann, iid)
    assert save(team.ann, iid, doc)["status"] == "annotating"
    assert move(team.ann, iid, "submitted")["status"] == "submitted"
    # submitted: the annotator reads it but cannot change it any more
    r = save(team.ann, iid, doc, expect=409)
    assert "submitted" in r["detail"]
    move(team.rev, iid, "in_review")
    r = move(team.rev, iid, "returned", expect=422)  # a return says what to fix
    assert r["code"] == "comment_required"
    note = comment(
        team.rev,
        iid,
        "this is the right wrist",
        instance_id=doc["instances"][0]["id"],
        keypoint="left_wrist",
    )
    assert move(team.rev, iid, "returned")["status"] == "returned"
    seen = team.ann.get(f"/api/items/{iid}/comments").json()
    assert [(c["keypoint"], c["resolved"], c["author"]["username"]) for c in seen] == [
        ("left_wrist", False, "rev")
    ]
    fixed = copy.deepcopy(doc)
    fixed["instances"][0]["keypoints"][9][0] += 3.0
    assert save(team.ann, iid, fixed)["status"] == "annotating"
    r = team.ann.patch(f"/api/comments/{note['id']}", json={"resolved": True})
    assert r.status_code == 200 and r.json()["resolved_by"]["username"] == "ann"
    move(team.ann, iid, "submitted")
    move(team.rev, iid, "in_review")
    assert move(team.rev, iid, "accepted")["status"] == "accepted"
    history = team.admin.get(f"/api/items/{iid}/history").json()
    assert [(t["from"], t["to"], t["user"]["username"]) for t in history["transitions"]] == [
        ("new", "annotating", "ann"),
        ("annotating", "submitted", "ann"),
        ("submitted", "in_review", "rev"),
        ("in_review", "returned", "rev"),
        ("returned", "annotating", "ann"),
        ("annotating", "submitted", "ann"),
        ("submitted", "in_review", "rev"),
        ("in_review", "accepted", "rev"),
    ]
    counts = team.admin.get(f"/api/projects/{team.pid}").json()["counts"]
    assert counts["accepted"] == 1 and counts["new"] == 3


def test_illegal_moves_are_409_and_wrong_roles_403(team: Team) -> None:
    iid = team.job1_items[0]
    r = move(team.ann, iid, "accepted", expect=409)
    assert r["detail"] == f"item {iid} cannot move from new to accepted"
    move(team.ann, iid, "annotating")
    r = move(team.ann, iid, "annotating", expect=409)
    assert "from annotating to annotating" in r["detail"]
    move(team.ann, iid, "submitted")
    r = move(team.ann, iid, "in_review", expect=403)  # annotators do not review
    assert r["detail"] == "a annotator cannot move an item from submitted to in_review"
    move(team.rev, iid, "in_review")
    move(team.ann, iid, "accepted", expect=403)
    move(team.admin, iid, "accepted")  # the admin acts as manager
    move(team.rev, iid, "in_review", expect=409)


def test_jobs_split_the_project_and_annotators_see_only_theirs(crew: Crew, testdata: Path) -> None:
    admin, ann = crew.admin, crew.clients["ann"]
    coco_project = new_project(crew, testdata)
    admin.post(
        f"/api/projects/{coco_project}/members", json={"username": "ann", "role": "annotator"}
    )
    admin.post(
        f"/api/projects/{coco_project}/members", json={"username": "rev", "role": "reviewer"}
    )
    r = admin.post(f"/api/projects/{coco_project}/jobs", json={"size": 3})
    assert r.status_code == 201
    jobs = r.json()
    assert [(j["name"], j["items"], j["annotator"]) for j in jobs] == [
        ("Job 1", 3, None),
        ("Job 2", 1, None),
    ]
    r = admin.post(f"/api/projects/{coco_project}/jobs", json={"size": 3})
    assert r.status_code == 400 and "every item is in a job already" in r.json()["detail"]
    r = admin.patch(f"/api/jobs/{jobs[0]['id']}", json={"annotator": "rev"})
    assert r.status_code == 400
    assert r.json()["detail"] == "annotator: 'rev' is reviewer; add them as annotator first"
    assert ann.get(f"/api/projects/{coco_project}/items").json()["total"] == 0
    assert ann.get(f"/api/projects/{coco_project}/jobs").json() == []
    r = admin.patch(f"/api/jobs/{jobs[1]['id']}", json={"annotator": "ann"})
    assert r.json()["annotator"]["username"] == "ann"
    listed = ann.get(f"/api/projects/{coco_project}/items").json()
    assert listed["total"] == 1
    mine = listed["items"][0]["id"]
    assert ann.get(f"/api/jobs/{jobs[1]['id']}").json()["item_ids"] == [mine]
    assert ann.get(f"/api/jobs/{jobs[0]['id']}").status_code == 404
    other = admin.get(f"/api/jobs/{jobs[0]['id']}").json()["item_ids"]
    assert ann.get(f"/api/items/{other[0]}").status_code == 404
    r = ann.post(f"/api/projects/{coco_project}/jobs", json={"size": 1})
    assert r.status_code == 403
    by_job = admin.get(f"/api/projects/{coco_project}/items", params={"job": jobs[0]["id"]})
    assert [i["id"] for i in by_job.json()["items"]] == other
    # reassigning moves the items with the job
    admin.patch(f"/api/jobs/{jobs[1]['id']}", json={"annotator": None})
    assert ann.get(f"/api/items/{mine}").status_code == 404


def test_reviewers_see_submitted_work_of_their_jobs(team: Team) -> None:
    mine, theirs = team.job1_items[0], team.job2_items[0]
    assert team.rev.get(f"/api/items/{mine}").status_code == 404  # nothing submitted yet
    for client, iid in ((team.ann, mine), (team.ann2, theirs)):
        move(client, iid, "annotating")
        move(client, iid, "submitted")
    queue = team.rev.get(f"/api/projects/{team.pid}/items").json()["items"]
    assert sorted(i["id"] for i in queue) == sorted([mine, theirs])  # job 2 has no reviewer
    assert [i["id"] for i in team.rev2.get(f"/api/projects/{team.pid}/items").json()["items"]] == [
        theirs
    ]  # job 1 is rev's
    assert team.rev2.get(f"/api/items/{mine}").status_code == 404
    # the status tabs count what each one's list shows, not the whole project
    counts = {
        name: {
            k: v for k, v in client.get(f"/api/projects/{team.pid}").json()["counts"].items() if v
        }
        for name, client in (("admin", team.admin), ("rev", team.rev), ("rev2", team.rev2))
    }
    assert counts["rev"] == {"submitted": 2} and counts["rev2"] == {"submitted": 1}
    assert sum(counts["admin"].values()) == 4 and counts["admin"]["submitted"] == 2
    ann_counts = team.ann.get(f"/api/projects/{team.pid}").json()["counts"]
    assert sum(ann_counts.values()) == len(team.job1_items)
    detail = team.rev.get(f"/api/items/{mine}").json()
    assert (detail["role"], detail["can_edit"], detail["moves"]) == (
        "reviewer",
        False,
        ["in_review"],
    )


def test_reviewers_fix_in_place_unless_the_project_says_no(team: Team) -> None:
    iid = team.job1_items[0]
    move(team.ann, iid, "annotating")
    move(team.ann, iid, "submitted")
    move(team.rev, iid, "in_review")
    assert team.rev.get(f"/api/items/{iid}").json()["can_edit"] is True
    doc = document(team.rev, iid)
    doc["instances"][0]["keypoints"][0][0] += 1.0
    assert save(team.rev, iid, doc)["status"] == "in_review"  # a fix does not move it
    r = team.rev.put(f"/api/projects/{team.pid}/workflow", json={"reviewer_can_edit": False})
    assert r.status_code == 403
    r = team.admin.put(f"/api/projects/{team.pid}/workflow", json={"reviewer_can_edit": False})
    assert r.status_code == 200, r.text
    r = save(team.rev, iid, doc, expect=403)
    assert "comment but do not edit" in r["detail"]
    assert team.rev.get(f"/api/items/{iid}").json()["can_edit"] is False


def outside(doc: dict[str, object], width: int) -> dict[str, object]:
    """The first instance's first labeled keypoint moved 40 px right of the image."""
    bad = copy.deepcopy(doc)
    triples = bad["instances"][0]["keypoints"]  # type: ignore[index]
    k = next(n for n, t in enumerate(triples) if t[2] > 0)
    triples[k][0] = width + 40.0
    return bad


def test_blocking_checks_refuse_a_submission_and_projects_choose_them(team: Team) -> None:
    iid = team.job1_items[0]
    item = team.ann.get(f"/api/items/{iid}").json()
    bad = outside(item["annotation"], item["width"])
    save(team.ann, iid, bad)
    r = move(team.ann, iid, "submitted", expect=422)
    assert r["code"] == "qa_failed"
    blocking = [f for f in r["findings"] if f["blocking"]]
    assert [(f["check"], f["instance_id"]) for f in blocking] == [
        ("outside_image", bad["instances"][0]["id"])  # type: ignore[index]
    ]
    assert team.ann.get(f"/api/items/{iid}").json()["status"] == "annotating"
    settings = team.admin.get(f"/api/projects/{team.pid}/workflow").json()
    assert settings["qa"]["blocking"] == [
        "outside_image",
        "duplicate_instance",
        "inconsistent_visibility",
    ]
    assert set(settings["qa"]["blocking"]) <= set(settings["checks"])  # real checks only
    body = {"qa": {"blocking": ["nonsense"]}}
    r = team.admin.put(f"/api/projects/{team.pid}/workflow", json=body)
    assert r.status_code == 400 and "unknown check(s) nonsense" in r.json()["detail"]
    body = {"qa": {"blocking": ["duplicate_instance"], "thresholds": {"duplicate_oks": "x"}}}
    r = team.admin.put(f"/api/projects/{team.pid}/workflow", json=body)
    assert r.status_code == 400 and "qa.thresholds.duplicate_oks" in r.json()["detail"]
    body["qa"]["thresholds"] = {"duplicate_oks": 0.95}  # type: ignore[index]
    r = team.admin.put(f"/api/projects/{team.pid}/workflow", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["qa"] == {
        "blocking": ["duplicate_instance"],
        "thresholds": {"duplicate_oks": 0.95},
    }
    r = move(team.ann, iid, "submitted")  # no longer blocking: reported, not refused
    assert "outside_image" in {f["check"] for f in r["findings"]}
    assert not any(f["blocking"] for f in r["findings"])


def test_comments_point_at_an_item_an_instance_or_a_keypoint(crew: Crew, team: Team) -> None:
    iid = team.job1_items[0]
    inst = document(team.ann, iid)["instances"][0]["id"]
    comment(team.admin, iid, "  whole picture  ")
    comment(team.admin, iid, "who is this?", instance_id=inst)
    r = team.admin.post(f"/api/items/{iid}/comments", json={"text": "x", "keypoint": "nose"})
    assert r.status_code == 400 and "names its instance_id" in r.json()["detail"]
    r = team.admin.post(
        f"/api/items/{iid}/comments", json={"text": "x", "instance_id": inst, "keypoint": "beak"}
    )
    assert r.status_code == 400 and "'beak' is not a keypoint of skeleton 'coco17'" in r.text
    r = team.admin.post(f"/api/items/{iid}/comments", json={"text": "x", "instance_id": "zz"})
    assert r.status_code == 400 and "has no instance 'zz'" in r.json()["detail"]
    r = team.admin.post(f"/api/items/{iid}/comments", json={"text": "   "})
    assert r.status_code == 400
    # the service other features call (the gallery), as the annotator of the job
    with crew.server.session() as session:
        ann = session.scalar(select(User).where(User.username == "ann"))
        assert ann is not None
        made = add_comment(session, ann, iid, "fixed the nose", instance_id=inst, keypoint="nose")
    assert made["author"]["username"] == "ann"
    listed = team.ann.get(f"/api/items/{iid}/comments").json()
    assert [(c["text"], c["instance_id"], c["keypoint"]) for c in listed] == [
        ("whole picture", None, None),
        ("who is this?", inst, None),
        ("fixed the nose", inst, "nose"),
    ]
    r = team.ann2.patch(f"/api/comments/{listed[0]['id']}", json={"resolved": True})
    assert r.status_code == 404  # ann2 cannot see the item
    r = team.ann.patch(f"/api/comments/{listed[0]['id']}", json={"resolved": True})
    assert r.json()["resolved"] is True
    r = team.ann.patch(f"/api/comments/{listed[0]['id']}", json={"resolved": False})
    assert (r.json()["resolved"], r.json()["resolved_by"]) == (False, None)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_migration_renames_the_old_states(backend: str, tmp_path: Path) -> None:
    """A database of the first schema with items in the old states upgrades to the new."""
    projects = table(
        "projects",
        column("id"),
        column("name"),
        column("skeleton", JSON),
        column("media_dir"),
        column("created_at", UTCDateTime()),
    )
    items = table(
        "items",
        *(column(c) for c in ("project_id", "file_name", "width", "height", "status", "version")),
        column("annotation", JSON),
        column("updated_at", UTCDateTime()),
    )
    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / 'old.db'}"
        else:  # a database of its own: the module's app holds the shared one
            url = stack.enter_context(fresh_postgres_database("posemark_old"))
        migrate_old_states(url, projects, items)


def migrate_old_states(url: str, projects: TableClause, items: TableClause) -> None:
    store = open_store(url)
    try:
        config = alembic_config()
        with store.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
            now = utcnow()
            connection.execute(
                insert(projects).values(
                    id=1, name="old", skeleton={}, media_dir="p1", created_at=now
                )
            )
            connection.execute(
                insert(items),
                [
                    {
                        "project_id": 1,
                        "file_name": f"{n}.jpg",
                        "width": 1,
                        "height": 1,
                        "status": status,
                        "version": 1,
                        "annotation": {"instances": []},
                        "updated_at": now,
                    }
                    for n, status in enumerate(("new", "in_progress", "done"))
                ],
            )
        upgrade_to_head(store.engine)
        with store.engine.connect() as connection:
            rows = connection.execute(select(Item.file_name, Item.status).order_by(Item.file_name))
            assert [tuple(r) for r in rows] == [
                ("0.jpg", "new"),
                ("1.jpg", "annotating"),
                ("2.jpg", "accepted"),
            ]
    finally:
        store.dispose()


def test_two_reviewers_claiming_at_once_one_wins(team: Team) -> None:
    """The state moves by compare-and-set: of two claims sent together, one is a 409,
    and only one move is logged."""
    iid = team.job2_items[0]  # job 2 has no reviewer: rev and rev2 both see it
    move(team.ann2, iid, "annotating")
    move(team.ann2, iid, "submitted")
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def claim(client: TestClient) -> None:
        barrier.wait()
        r = client.post(f"/api/items/{iid}/status", json={"status": "in_review"})
        codes.append(r.status_code)

    threads = [threading.Thread(target=claim, args=(c,)) for c in (team.rev, team.rev2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 409]
    history = team.admin.get(f"/api/items/{iid}/history").json()
    assert [t["to"] for t in history["transitions"]] == ["annotating", "submitted", "in_review"]
