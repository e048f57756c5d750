"""Items: listing, neighbours, saving with compare-and-set, status, image and thumbnail."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from serverkit import Server

NAMES = ["000000000785.jpg", "000000040083.jpg", "000000196141.jpg", "000000197388.jpg"]


def person(iid: str = "a", x0: float = 10.5, v: int = 2) -> dict[str, Any]:
    kps = [[x0 + i, 20.25 + 2 * i, v] for i in range(17)]
    kps[3] = [None, None, 0]
    kps[4] = [50.0, 60.0, 1]
    return {
        "id": iid,
        "keypoints": kps,
        "bbox": None,
        "bbox_mode": "derived",
        "source": "human",
        "confirmed": True,
        "track_id": None,
    }


def items_of(admin: TestClient, pid: int, **params: Any) -> dict[str, Any]:
    r = admin.get(f"/api/projects/{pid}/items", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_list_is_ordered_by_file_name_with_counts(admin: TestClient, coco_project: int) -> None:
    body = items_of(admin, coco_project)
    assert body["total"] == 4
    assert [i["file_name"] for i in body["items"]] == NAMES
    first = body["items"][0]
    assert set(first) == {"id", "file_name", "width", "height", "status", "version", "instances"}
    assert (first["width"], first["height"], first["status"], first["version"]) == (
        640,
        425,
        "new",
        1,
    )
    assert sum(i["instances"] for i in body["items"]) == 14


def test_search_filter_and_paging(admin: TestClient, coco_project: int) -> None:
    assert [i["file_name"] for i in items_of(admin, coco_project, q="0400")["items"]] == [NAMES[1]]
    assert items_of(admin, coco_project, q="JPG")["total"] == 4  # case-insensitive
    assert items_of(admin, coco_project, q="%")["total"] == 0  # no LIKE wildcards
    page = items_of(admin, coco_project, offset=1, limit=2)
    assert page["total"] == 4
    assert [i["file_name"] for i in page["items"]] == NAMES[1:3]
    iid = page["items"][0]["id"]
    admin.post(f"/api/items/{iid}/status", json={"status": "annotating"})
    started = items_of(admin, coco_project, status="annotating")
    assert (started["total"], started["items"][0]["id"]) == (1, iid)
    assert items_of(admin, coco_project, status="new")["total"] == 3
    r = admin.get(f"/api/projects/{coco_project}/items", params={"status": "finished"})
    assert r.status_code == 400
    assert "status: expected one of new, annotating, submitted" in r.json()["detail"]
    r = admin.get(f"/api/projects/{coco_project}/items", params={"limit": 0})
    assert r.status_code == 422
    assert r.json()["code"] == "invalid"


def test_item_has_prev_and_next_in_file_name_order(admin: TestClient, coco_project: int) -> None:
    ids = [i["id"] for i in items_of(admin, coco_project)["items"]]
    first = admin.get(f"/api/items/{ids[0]}").json()
    assert (first["prev_id"], first["next_id"]) == (None, ids[1])
    middle = admin.get(f"/api/items/{ids[2]}").json()
    assert (middle["prev_id"], middle["next_id"]) == (ids[1], ids[3])
    last = admin.get(f"/api/items/{ids[3]}").json()
    assert (last["prev_id"], last["next_id"]) == (ids[2], None)
    assert middle["project_id"] == coco_project
    assert middle["file_name"] == NAMES[2]
    assert isinstance(middle["annotation"]["instances"], list)


def first_item(admin: TestClient, pid: int) -> dict[str, Any]:
    iid = items_of(admin, pid)["items"][0]["id"]
    body: dict[str, Any] = admin.get(f"/api/items/{iid}").json()
    return body


def test_save_with_the_current_version(admin: TestClient, coco_project: int) -> None:
    item = first_item(admin, coco_project)
    doc = {"instances": [person("a"), person("b", x0=100.0)]}
    r = admin.put(
        f"/api/items/{item['id']}/annotation", json={"base_version": 1, "annotation": doc}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"version": 2, "status": "annotating"}
    stored = admin.get(f"/api/items/{item['id']}").json()
    assert stored["version"] == 2
    assert stored["annotation"] == doc  # a reload shows exactly what was saved
    r = admin.put(
        f"/api/items/{item['id']}/annotation", json={"base_version": 2, "annotation": doc}
    )
    assert r.json() == {"version": 3, "status": "annotating"}


def test_stale_save_gets_409_with_the_current_document(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    item = first_item(admin, coco_project)
    url = f"/api/items/{item['id']}/annotation"
    mine = {"instances": [person("mine")]}
    assert admin.put(url, json={"base_version": 1, "annotation": mine}).status_code == 200
    theirs = {"instances": [person("theirs", x0=300.0)]}
    r = admin.put(url, json={"base_version": 1, "annotation": theirs})
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "conflict"
    assert body["current_version"] == 2
    assert body["current"] == mine
    assert "changed since version 1" in body["detail"]
    stored = admin.get(f"/api/items/{item['id']}").json()
    assert (stored["version"], stored["annotation"]) == (2, mine)  # nothing overwritten


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["instances"][0]["keypoints"].pop(), "instance 'a': keypoints: expected 17"),
        (
            lambda d: d["instances"][0]["keypoints"].__setitem__(5, [1.0, 2.0, 3]),
            "instance 'a': keypoints[5] (left_shoulder): v: expected 0 (not labeled)",
        ),
        (
            lambda d: d["instances"][0]["keypoints"].__setitem__(6, [None, 2.0, 2]),
            "instance 'a': keypoints[6] (right_shoulder): expected finite x and y for v=2",
        ),
        (lambda d: d["instances"].append(person("a")), "instance 'a': id: ids must be unique"),
        (lambda d: d["instances"][0].update(source="robot"), "instance 'a': source: expected"),
        (lambda d: d["instances"][0].update(bbox=[0, 0, -1, 5]), "instance 'a': bbox: expected"),
        (lambda d: d["instances"][0].update(colour="red"), "instance 'a': unknown field(s) colour"),
        (lambda d: d["instances"][0].update(id=""), "instances[0]: id: expected a non-empty"),
        (lambda d: d.update(extra=1), 'annotation: expected {"instances": [...]}'),
    ],
)
def test_invalid_documents_are_400_naming_instance_and_field(
    admin: TestClient, coco_project: int, mutate: Any, message: str
) -> None:
    item = first_item(admin, coco_project)
    doc = {"instances": [person("a")]}
    mutate(doc)
    url = f"/api/items/{item['id']}/annotation"
    r = admin.put(url, json={"base_version": 1, "annotation": doc})
    assert r.status_code == 400
    assert r.json()["detail"].startswith(message), r.json()["detail"]
    assert admin.get(f"/api/items/{item['id']}").json()["version"] == 1


def test_unlabeled_coordinates_are_stored_as_null(admin: TestClient, coco_project: int) -> None:
    item = first_item(admin, coco_project)
    doc = {"instances": [person("a")]}
    doc["instances"][0]["keypoints"][3] = [7.0, 8.0, 0]
    url = f"/api/items/{item['id']}/annotation"
    assert admin.put(url, json={"base_version": 1, "annotation": doc}).status_code == 200
    stored = admin.get(f"/api/items/{item['id']}").json()["annotation"]
    assert stored["instances"][0]["keypoints"][3] == [None, None, 0]
    assert stored["instances"][0]["keypoints"][4] == [50.0, 60.0, 1]  # occluded keeps x, y


def test_status_changes(admin: TestClient, coco_project: int) -> None:
    item = first_item(admin, coco_project)
    url = f"/api/items/{item['id']}/status"
    r = admin.post(url, json={"status": "annotating"})
    assert r.json() == {"status": "annotating", "version": 1, "findings": []}
    r = admin.put(
        f"/api/items/{item['id']}/annotation",
        json={"base_version": 1, "annotation": {"instances": []}},
    )
    assert r.json() == {"version": 2, "status": "annotating"}  # a save moves new on only
    r = admin.post(url, json={"status": "new"})
    assert r.status_code == 409
    assert "from annotating to new" in r.json()["detail"]
    r = admin.post(url, json={"status": "archived"})
    assert r.status_code == 400


def test_concurrent_saves_on_one_version_one_wins(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    """Two annotators (two sessions, two threads) save on the same base version at once."""
    item = first_item(admin, coco_project)
    url = f"/api/items/{item['id']}/annotation"
    server.add_user("second")
    server.login("second")
    r = admin.post(
        f"/api/projects/{coco_project}/members", json={"username": "second", "role": "annotator"}
    )
    assert r.status_code == 201
    r = admin.post(  # annotators see only the items of their jobs
        f"/api/projects/{coco_project}/jobs", json={"item_ids": [item["id"]], "annotator": "second"}
    )
    assert r.status_code == 201, r.text
    clients = [admin, server.login("second")]
    for round_ in range(5):
        base = admin.get(f"/api/items/{item['id']}").json()["version"]
        barrier = threading.Barrier(2)
        results: list[tuple[int, dict[str, Any]]] = [(0, {}), (0, {})]

        def save(
            n: int,
            base: int,
            barrier: threading.Barrier,
            results: list[tuple[int, dict[str, Any]]],
        ) -> None:
            doc = {"instances": [person(f"p{n}", x0=10.0 * n)]}
            barrier.wait()
            r = clients[n].put(url, json={"base_version": base, "annotation": doc})
            results[n] = (r.status_code, r.json())

        threads = [
            threading.Thread(target=save, args=(n, base, barrier, results)) for n in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(code for code, _ in results)
        assert codes == [200, 409], (round_, results)
        winner = next(n for n, (code, _) in enumerate(results) if code == 200)
        loser_body = results[1 - winner][1]
        stored = admin.get(f"/api/items/{item['id']}").json()
        assert stored["version"] == base + 1
        assert stored["annotation"]["instances"][0]["id"] == f"p{winner}"
        assert loser_body["current_version"] == base + 1
        assert loser_body["current"] == stored["annotation"]


def test_image_is_served_with_its_content_type(
    admin: TestClient, coco_project: int, testdata: Any
) -> None:
    item = first_item(admin, coco_project)
    r = admin.get(f"/api/items/{item['id']}/image")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/jpeg"
    assert r.content == (testdata / "coco/mmpose_coco" / item["file_name"]).read_bytes()


def test_thumbnails_are_jpegs_of_the_requested_size_and_cached(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    item = first_item(admin, coco_project)
    url = f"/api/items/{item['id']}/thumbnail"
    r = admin.get(url)
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/jpeg"
    im = Image.open(io.BytesIO(r.content))
    assert im.format == "JPEG"
    assert im.size == (160, 107)  # 640 x 425 scaled, aspect kept
    small = Image.open(io.BytesIO(admin.get(url, params={"size": 48}).content))
    assert max(small.size) == 48
    cached = sorted(p.name for p in (server.settings.thumbs_dir / f"p{coco_project}").iterdir())
    assert cached == [f"{item['id']}-160.jpg", f"{item['id']}-48.jpg"]
    assert admin.get(url).content == r.content
    assert admin.get(url, params={"size": 5000}).status_code == 422


SEARCHED = [
    "Été_001.jpg",
    "été_002.jpg",
    "CAFÉ.png",
    "café.png",
    "100%_a.jpg",
    'a_b"q.jpg',
    "ab.jpg",
    "X-ray_0123.JPG",
    "x-ray_0124.jpg",
    "üBER.jpg",
    "clips/été/frame.jpg",
]


SHORT = ["RAY", "0123", "üb", "ÜBER", "s/é", "zzz", "a", "_", ".JPG"]


def _ascii_folded(text: str) -> str:
    return "".join(c.lower() if c.isascii() else c for c in text)


@pytest.mark.parametrize(
    "q",
    ["été", "ÉTÉ", "Été", "caf", "CAFÉ", "café", "%", "100%", '_b"', '"q', "ab", "ray_01", *SHORT],
)
@pytest.mark.parametrize("few_names", [20_000, 0])
def test_search_is_the_substring_match_whatever_the_index(
    server: Server,
    admin: TestClient,
    coco_project: int,
    q: str,
    few_names: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The trigram index (three characters or more) finds exactly the names the
    substring match finds: ASCII case ignored, other characters as they are (the
    search's part is lowered as a whole first), LIKE wildcards and quotes literal; the
    other project's names stay out. ``few_names`` 0: every part is too common for the
    index to lead, and the names are read as without it."""
    from posemark.services import items
    from posemark.store.models import Item

    monkeypatch.setattr(items, "FEW_NAMES", few_names)

    r = admin.post("/api/projects", json={"name": "other", "skeleton": "coco17"})
    other = r.json()["id"]
    with server.session() as s:
        for pid in (coco_project, other):
            for name in SEARCHED:
                s.add(Item(project_id=pid, file_name=name, width=1, height=1, annotation={}))
    names = NAMES + SEARCHED
    expected = sorted(n for n in names if _ascii_folded(q.lower()) in _ascii_folded(n))
    found = items_of(admin, coco_project, q=q, limit=200)
    assert sorted(i["file_name"] for i in found["items"]) == expected
    assert found["total"] == len(expected)


def test_search_follows_new_and_deleted_items(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    from posemark.store.models import Item

    assert items_of(admin, coco_project, q="40083")["total"] == 1
    gone = items_of(admin, coco_project, q="40083")["items"][0]["id"]
    assert admin.delete(f"/api/items/{gone}").status_code == 204
    assert items_of(admin, coco_project, q="40083")["total"] == 0
    with server.session() as s:
        s.add(
            Item(
                project_id=coco_project,
                file_name="late_40083.jpg",
                width=1,
                height=1,
                annotation={},
            )
        )
    assert [i["file_name"] for i in items_of(admin, coco_project, q="40083")["items"]] == [
        "late_40083.jpg"
    ]
