"""Access per role, enforced by the API: for every route and role, the designed answer.

``CASES`` is the table: for each route (and, where the answer depends on it, the item's
state) the status code each kind of caller gets. One app per backend serves the whole
module; one test per route (and state) asks as each role in turn, each time on a fresh
item (in job 1: annotated by ``ann``, reviewed by ``rev``), so requests that change
things cannot disturb each other and the order is free.

Callers: anonymous, a user who is no member, the job's annotator, another annotator of
the project, the job's reviewer, a member manager, and the global admin (no member).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from serverkit import Server, jpeg_bytes
from sqlalchemy import select
from workflowkit import module_app

from dbfixtures import BACKENDS
from posemark.store.models import Item, User
from posemark.store.workflow_models import Comment, JobItem

ROLES = ("anonymous", "outsider", "annotator", "other_annotator", "reviewer", "manager", "admin")
W, H = 64, 48
JPEG = jpeg_bytes(W, H)
DOC = {
    "instances": [
        {"id": "p1", "keypoints": [[10.0 + 2 * k, 8.0 + 2 * k, 2] for k in range(17)]},
    ]
}


def codes(*seven: int) -> dict[str, int]:
    return dict(zip(ROLES, seven, strict=True))


# what each caller gets: anonymous, outsider, annotator, other annotator, reviewer, manager, admin
SEE = codes(401, 404, 200, 404, 200, 200, 200)  # an item from submission on
MEMBERS = codes(401, 404, 200, 200, 200, 200, 200)
MANAGERS = codes(401, 404, 403, 403, 403, 200, 200)
MANAGERS_CREATE = codes(401, 404, 403, 403, 403, 201, 201)
WORK = codes(401, 404, 200, 404, 404, 200, 200)  # an item being annotated
REVIEW = codes(401, 404, 403, 404, 200, 200, 200)  # review moves
LOCKED = codes(401, 404, 409, 404, 409, 200, 200)  # editing a submitted item
FIX = codes(401, 404, 409, 404, 200, 200, 200)  # editing an item in review


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    state: str  # the fresh item's state
    expect: dict[str, int]
    body: dict[str, Any] | None = None


CASES: dict[str, Case] = {
    "project": Case("GET", "/api/projects/{pid}", "new", MEMBERS),
    "members": Case("GET", "/api/projects/{pid}/members", "new", MEMBERS),
    "add-member": Case(
        "POST",
        "/api/projects/{pid}/members",
        "new",
        codes(401, 404, 403, 403, 403, 201, 201),
        {"username": "extra", "role": "annotator"},
    ),
    "items": Case("GET", "/api/projects/{pid}/items", "new", MEMBERS),
    "import": Case("POST", "/api/projects/{pid}/import", "new", MANAGERS),
    # managers get past the role check to the source's own check (no such folder: 400)
    "import-reference": Case(
        "POST",
        "/api/projects/{pid}/import-reference",
        "new",
        codes(401, 404, 403, 403, 403, 400, 400),
        {"source": "/no/such/folder"},
    ),
    "export": Case("GET", "/api/projects/{pid}/export", "new", MANAGERS),
    # the export operation: queued for a worker (202) for managers only
    "start-export": Case(
        "POST", "/api/projects/{pid}/exports", "new", codes(401, 404, 403, 403, 403, 202, 202), {}
    ),
    # the Label next queue: managers order it (an operation: 202, the running one again
    # while it runs); every member reads its next item among those they may see
    "order-label-next": Case(
        "POST", "/api/projects/{pid}/label-next", "new", codes(401, 404, 403, 403, 403, 202, 202)
    ),
    "label-next": Case("GET", "/api/projects/{pid}/label-next", "new", MEMBERS),
    "import-annotations": Case("POST", "/api/projects/{pid}/import-annotations", "new", MANAGERS),
    "jobs": Case("GET", "/api/projects/{pid}/jobs", "new", MEMBERS),
    "new-job": Case(
        "POST", "/api/projects/{pid}/jobs", "new", MANAGERS_CREATE, {"item_ids": ["{iid}"]}
    ),
    "job": Case("GET", "/api/jobs/{jid}", "new", codes(401, 404, 200, 404, 200, 200, 200)),
    "assign-job": Case(
        "PATCH", "/api/jobs/{jid}", "new", codes(401, 404, 403, 404, 403, 200, 200), {}
    ),
    "settings": Case("GET", "/api/projects/{pid}/workflow", "new", MEMBERS),
    "change-settings": Case("PUT", "/api/projects/{pid}/workflow", "new", MANAGERS, {}),
    "item-submitted": Case("GET", "/api/items/{iid}", "submitted", SEE),
    "item-annotating": Case("GET", "/api/items/{iid}", "annotating", WORK),
    "save-annotating": Case(
        "PUT", "/api/items/{iid}/annotation", "annotating", WORK, {"base_version": 1}
    ),
    "save-submitted": Case(
        "PUT", "/api/items/{iid}/annotation", "submitted", LOCKED, {"base_version": 1}
    ),
    "save-in-review": Case(
        "PUT", "/api/items/{iid}/annotation", "in_review", FIX, {"base_version": 1}
    ),
    "start": Case("POST", "/api/items/{iid}/status", "new", WORK, {"status": "annotating"}),
    "submit": Case("POST", "/api/items/{iid}/status", "annotating", WORK, {"status": "submitted"}),
    "claim": Case("POST", "/api/items/{iid}/status", "submitted", REVIEW, {"status": "in_review"}),
    "accept": Case("POST", "/api/items/{iid}/status", "in_review", REVIEW, {"status": "accepted"}),
    "return": Case("POST", "/api/items/{iid}/status", "in_review", REVIEW, {"status": "returned"}),
    "image": Case("GET", "/api/items/{iid}/image", "submitted", SEE),
    "thumbnail": Case("GET", "/api/items/{iid}/thumbnail", "submitted", SEE),
    "comments": Case("GET", "/api/items/{iid}/comments", "submitted", SEE),
    "add-comment": Case(
        "POST",
        "/api/items/{iid}/comments",
        "submitted",
        codes(401, 404, 201, 404, 201, 201, 201),
        {"text": "check the knee", "instance_id": "p1", "keypoint": "left_knee"},
    ),
    "resolve-comment": Case("PATCH", "/api/comments/{cid}", "submitted", SEE, {"resolved": True}),
    "history": Case("GET", "/api/items/{iid}/history", "submitted", SEE),
    "version": Case("GET", "/api/items/{iid}/history/1", "submitted", SEE),
    "changes": Case("GET", "/api/items/{iid}/history/1/changes", "submitted", SEE),
    "restore-annotating": Case(
        "POST", "/api/items/{iid}/restore", "annotating", WORK, {"version": 1, "base_version": 1}
    ),
    "restore-in-review": Case(
        "POST", "/api/items/{iid}/restore", "in_review", FIX, {"version": 1, "base_version": 1}
    ),
    # managers get past the role check to the edit's own check (no keypoints: 400)
    "edit-skeleton": Case(
        "PUT",
        "/api/projects/{pid}/skeleton",
        "new",
        codes(401, 404, 403, 403, 403, 400, 400),
        {"keypoints": []},
    ),
}
"""Every route of the workflow and of the items and projects it guards."""


@dataclass
class World:
    server: Server
    pid: int
    job1: int
    media: Path
    admin_id: int
    clients: dict[str, TestClient]
    counter: Iterator[int]

    def fresh_item(self, state: str) -> tuple[int, int]:
        """A new item in ``state`` in job 1, with an image and one open comment."""
        name = f"case{next(self.counter)}.jpg"
        (self.media / name).write_bytes(JPEG)
        with self.server.session() as session:
            item = Item(
                project_id=self.pid,
                file_name=name,
                width=W,
                height=H,
                status=state,
                version=1,
                annotation=DOC,
            )
            session.add(item)
            session.flush()
            session.add(JobItem(job_id=self.job1, item_id=item.id))
            comment = Comment(item_id=item.id, text="look here", author_id=self.admin_id)
            session.add(comment)
            session.commit()
            return item.id, comment.id


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with module_app(request.param, tmp_path_factory.mktemp("roles")) as server:
        yield build_world(server)


def build_world(server: Server) -> World:
    admin = server.admin()
    pid = admin.post("/api/projects", json={"name": "roles", "skeleton": "coco17"}).json()["id"]
    members = {
        "annotator": ("ann", "annotator"),
        "other_annotator": ("ann2", "annotator"),
        "reviewer": ("rev", "reviewer"),
        "manager": ("mgr", "manager"),
    }
    clients = {"anonymous": server.anonymous(), "admin": admin}
    for name in ("ann", "ann2", "rev", "mgr", "outsider", "extra"):
        server.add_user(name)
    for role, (name, project_role) in members.items():
        r = admin.post(
            f"/api/projects/{pid}/members", json={"username": name, "role": project_role}
        )
        assert r.status_code == 201, r.text
        clients[role] = server.login(name)
    clients["outsider"] = server.login("outsider")
    # job 1 needs an item to exist; the first fresh item goes into it
    r = admin.post(
        f"/api/projects/{pid}/import", files=[("files", ("seed.jpg", JPEG, "image/jpeg"))]
    )
    assert r.status_code == 200, r.text
    r = admin.post(
        f"/api/projects/{pid}/jobs", json={"size": 10, "annotator": "ann", "reviewer": "rev"}
    )
    assert r.status_code == 201, r.text
    with server.session() as session:
        admin_id = session.scalar(select(User.id).where(User.username == "admin"))
    assert admin_id is not None
    media = server.settings.media_dir / f"p{pid}"
    return World(server, pid, r.json()[0]["id"], media, admin_id, clients, itertools.count())


def fill(value: Any, ids: dict[str, int]) -> Any:
    """``"{iid}"`` and the like in a request body become the fresh ids."""
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    return value


def request_kwargs(case: Case, ids: dict[str, int], n: int) -> dict[str, Any]:
    if case.path.endswith("/import"):
        return {"files": [("files", (f"upload{n}.jpg", JPEG, "image/jpeg"))]}
    if case.path.endswith("/import-annotations"):  # an empty results list, a dry run
        return {
            "files": [("files", ("preds.json", b"[]", "application/json"))],
            "params": {"dry_run": "true"},
        }
    if case.body is None:
        return {}
    body = fill(case.body, ids)
    if case.path.endswith("/annotation"):
        body["annotation"] = DOC
    return {"json": body}


@pytest.mark.parametrize("name", list(CASES))
def test_route_answers_each_role_as_designed(world: World, name: str) -> None:
    """Each role in turn, each on a fresh item; every wrong answer is listed."""
    case = CASES[name]
    wrong = []
    for role in ROLES:
        iid, cid = world.fresh_item(case.state)
        ids = {"pid": world.pid, "iid": iid, "jid": world.job1, "cid": cid}
        url = case.path.format(**ids)
        r = world.clients[role].request(case.method, url, **request_kwargs(case, ids, iid))
        if r.status_code != case.expect[role]:
            wrong.append(f"{role}: {r.status_code} (expected {case.expect[role]}) {r.text[:200]}")
    assert wrong == [], f"{case.method} {case.path} on a {case.state} item"


def test_the_table_covers_every_workflow_route(world: World) -> None:
    """Every route of the projects, items and workflow routers is in ``CASES``."""
    tags = {"projects", "items", "jobs", "comments", "history"}
    app = world.server.app
    routes = {
        (m.upper(), p)
        for p, ops in app.openapi()["paths"].items()
        for m, op in ops.items()
        if tags & set(op.get("tags", [])) and "{" in p
    }
    covered = {
        (c.method, c.path.replace("/history/1", "/history/{version}")) for c in CASES.values()
    }
    assert routes - covered == set()
