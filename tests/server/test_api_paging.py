"""Every list route the web pages call pages on the server, on SQLite and PostgreSQL:
pages put together are the whole list in its order, totals come with every page, and
filters, search and sort hold across pages."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def _pages(admin: TestClient, url: str, key: str, size: int, **params: Any) -> list[Any]:
    out: list[Any] = []
    offset = 0
    total = None
    while True:
        r = admin.get(url, params={**params, "offset": offset, "limit": size})
        assert r.status_code == 200, r.text
        body = r.json()
        total = body["total"] if total is None else total
        assert body["total"] == total  # every page says the same total
        out.extend(body[key])
        offset += size
        if offset >= total:
            return out


def _next_pages(admin: TestClient, url: str, key: str, size: int, **params: Any) -> list[Any]:
    """The list walked by each page's ``next`` from the first page (no offsets)."""
    r = admin.get(url, params={**params, "limit": size})
    assert r.status_code == 200, r.text
    out = list(r.json()[key])
    while r.json()["next"] is not None:
        assert len(r.json()[key]) == size  # only a full page has a next
        r = admin.get(url, params={**params, "limit": size, "after": r.json()["next"]})
        assert r.status_code == 200, r.text
        out += r.json()[key]
    return out


def _cursor_pages(
    admin: TestClient, url: str, size: int, **params: Any
) -> tuple[list[int], list[int]]:
    """(item ids walked forward from the first page by ``next`` cursors, the same walked
    back from the last page by ``prev`` cursors)."""
    r = admin.get(url, params={**params, "limit": size})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["prev"] is None  # the first page
    forward = [i["id"] for i in body["items"]]
    while body["next"] is not None:
        body = admin.get(url, params={**params, "limit": size, "after": body["next"]}).json()
        assert body["prev"] is not None
        forward += [i["id"] for i in body["items"]]
    backward = [i["id"] for i in body["items"]]
    while body["prev"] is not None:
        body = admin.get(url, params={**params, "limit": size, "before": body["prev"]}).json()
        assert body["next"] is not None
        backward = [i["id"] for i in body["items"]] + backward
    return forward, backward


def _save(admin: TestClient, iid: int) -> None:
    item = admin.get(f"/api/items/{iid}").json()
    r = admin.put(
        f"/api/items/{iid}/annotation",
        json={"base_version": item["version"], "annotation": item["annotation"]},
    )
    assert r.status_code == 200, r.text


def test_items_filter_search_and_sort_page_through(admin: TestClient, coco_project: int) -> None:
    url = f"/api/projects/{coco_project}/items"
    whole = admin.get(url).json()
    names = [i["file_name"] for i in whole["items"]]
    assert whole["total"] == 4 and names == sorted(names)
    assert [i["file_name"] for i in _pages(admin, url, "items", 1)] == names
    backwards = _pages(admin, url, "items", 3, sort="-file_name")
    assert [i["file_name"] for i in backwards] == names[::-1]
    # the last saved comes first in -updated_at order, paged one by one
    first, last = whole["items"][0]["id"], whole["items"][-1]["id"]
    _save(admin, last)
    _save(admin, first)
    recent = [i["id"] for i in _pages(admin, url, "items", 1, sort="-updated_at")]
    assert recent[:2] == [first, last] and len(recent) == 4
    assert [i["id"] for i in _pages(admin, url, "items", 2, sort="updated_at")] == recent[::-1]
    # the saves moved both items to annotating: the status filter pages over them alone
    annotating = _pages(admin, url, "items", 1, status="annotating", sort="file_name")
    assert {i["id"] for i in annotating} == {first, last}
    assert all(i["status"] == "annotating" for i in annotating)
    found = _pages(admin, url, "items", 1, q=".JPG")  # case-insensitive
    assert [i["file_name"] for i in found] == names
    found = _pages(admin, url, "items", 1, q="0000000")
    assert [i["file_name"] for i in found] == [n for n in names if "0000000" in n]
    assert len(found) == 2
    assert all(i["instances"] >= 1 for i in whole["items"])
    r = admin.get(url, params={"sort": "size"})
    assert r.status_code == 400 and "sort: expected one of" in r.text


def test_items_page_by_cursor_in_every_order(admin: TestClient, coco_project: int) -> None:
    """Next and previous by cursor give the pages that offsets give, in each order and
    with a filter, and a cursor of another order is refused."""
    url = f"/api/projects/{coco_project}/items"
    whole = admin.get(url).json()["items"]
    first, last = whole[0]["id"], whole[-1]["id"]
    _save(admin, last)
    _save(admin, first)  # two items with later changes, the others share their import time
    for sort in ("file_name", "-file_name", "updated_at", "-updated_at"):
        expected = [i["id"] for i in _pages(admin, url, "items", 4, sort=sort)]
        for size in (1, 3, 4):
            forward, backward = _cursor_pages(admin, url, size, sort=sort)
            assert forward == backward == expected, (sort, size)
    annotating = [i["id"] for i in _pages(admin, url, "items", 1, status="annotating")]
    assert _cursor_pages(admin, url, 1, status="annotating") == (annotating, annotating)
    found = [i["id"] for i in _pages(admin, url, "items", 1, q="0000000")]
    assert _cursor_pages(admin, url, 1, q="0000000") == (found, found)
    cursor = admin.get(url, params={"limit": 1}).json()["next"]
    r = admin.get(url, params={"sort": "-updated_at", "after": cursor})
    assert r.status_code == 400 and "after: not a cursor of this list's sort" in r.text
    r = admin.get(url, params={"before": "not-a-cursor"})
    assert r.status_code == 400 and "before: not a cursor" in r.text
    r = admin.get(url, params={"before": cursor, "after": cursor})
    assert r.status_code == 400 and "after or before, not both" in r.text


def test_review_queue_pages_through_the_instances(admin: TestClient, coco_project: int) -> None:
    items = admin.get(f"/api/projects/{coco_project}/items").json()["items"]
    # both waiting states, and items that are not waiting: the queue is the people of the
    # submitted and the claimed items, their orders merged
    moves = {0: ("annotating",), 1: ("annotating", "submitted", "in_review")}
    for k, item in enumerate(items):
        for status in moves.get(k, ("annotating", "submitted")):
            r = admin.post(f"/api/items/{item['id']}/status", json={"status": status})
            assert r.status_code == 200, r.text
    waiting = {i["id"] for i in items[1:]}
    people = sum(
        len(admin.get(f"/api/items/{i}").json()["annotation"]["instances"]) for i in waiting
    )
    url = f"/api/projects/{coco_project}/review/instances"
    whole = admin.get(url, params={"limit": 200}).json()
    assert whole["total"] == people == len(whole["entries"])
    assert {e["status"] for e in whole["entries"]} == {"submitted", "in_review"}
    assert {e["item_id"] for e in whole["entries"]} == waiting
    order = [(-e["risk"], e["file_name"]) for e in whole["entries"]]
    assert order == sorted(order) and whole["entries"][0]["risk"] > 0
    for size in (1, 3, 4):  # pages that end, start and fall wholly past the risky people
        assert _pages(admin, url, "entries", size) == whole["entries"]
        assert _next_pages(admin, url, "entries", size) == whole["entries"]
    # a cursor with an offset skips from there; a made-up cursor is refused
    second = admin.get(url, params={"limit": 2}).json()["next"]
    skipped = admin.get(url, params={"limit": 3, "after": second, "offset": 2}).json()
    assert skipped["entries"] == whole["entries"][4:7]
    for bad in ("nonsense", "WyJ4IiwxXQ"):  # not base64 JSON; ["x",1]
        r = admin.get(url, params={"after": bad})
        assert r.status_code == 400 and "after" in r.json()["detail"], r.text
    for e in whole["entries"]:
        doc = admin.get(f"/api/items/{e['item_id']}").json()["annotation"]
        assert e["instances_in_item"] == len(doc["instances"])
        inst = next(i for i in doc["instances"] if i["id"] == e["instance_id"])
        assert e["labeled"] == sum(1 for t in inst["keypoints"] if t[2])


def test_jobs_page_with_a_total(admin: TestClient, coco_project: int) -> None:
    r = admin.post(f"/api/projects/{coco_project}/jobs", json={"size": 1})
    assert r.status_code == 201, r.text
    url = f"/api/projects/{coco_project}/jobs"
    whole = admin.get(url)
    assert whole.headers["x-total-count"] == "4" and len(whole.json()) == 4
    pages = []
    for offset in range(0, 4, 3):
        r = admin.get(url, params={"offset": offset, "limit": 3})
        assert r.headers["x-total-count"] == "4"
        pages += r.json()
    assert pages == whole.json()
    assert admin.get(url, params={"limit": 0}).status_code == 400


def test_history_pages_newest_first(admin: TestClient, coco_project: int) -> None:
    iid = admin.get(f"/api/projects/{coco_project}/items").json()["items"][0]["id"]
    for _ in range(4):
        _save(admin, iid)
    url = f"/api/items/{iid}/history"
    whole = admin.get(url).json()
    versions = [v["version"] for v in whole["versions"]]
    assert versions == [5, 4, 3, 2, 1] and whole["total_versions"] == 5
    paged = []
    for offset in range(0, 5, 2):
        body = admin.get(url, params={"offset": offset, "limit": 2}).json()
        assert body["total_versions"] == 5
        paged += body["versions"]
    assert paged == whole["versions"]
    assert all(v["instances"] == whole["versions"][0]["instances"] for v in paged)
    assert admin.get(url, params={"limit": 5000}).status_code == 400
