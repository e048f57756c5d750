"""The project dashboard in Chromium shows the figures of the JSON report, and a manager
merges an overlap item from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from browser_helpers import Api
from playwright.sync_api import BrowserContext, Page, expect

from posemark.services.report_formats import rows
from qa_documents import shifted

PASSWORD = "dashboard-password"
NOISE = {"dash-ann1": 2.0, "dash-ann2": 12.0}


def _login(context: BrowserContext, username: str) -> dict[str, str]:
    answer = Api.check(
        context.request.post("/api/auth/login", data={"username": username, "password": PASSWORD})
    )
    return {"X-CSRF-Token": answer["csrf_token"]}


def _work(context: BrowserContext, who: str, item_ids: list[int], truth: dict[int, Any]) -> None:
    """``who`` opens each item, saves a noisy copy of the real annotation, submits it."""
    headers = _login(context, who)
    rng = np.random.default_rng(len(who))
    for iid in item_ids:
        seen = Api.check(context.request.get(f"/api/items/{iid}"))
        doc = truth[iid]
        noisy = shifted(doc, rng.normal(0, NOISE[who], (len(doc["instances"]), 17, 2)))
        body = {"base_version": seen["version"], "annotation": noisy}
        Api.check(context.request.put(f"/api/items/{iid}/annotation", data=body, headers=headers))
        Api.check(
            context.request.post(
                f"/api/items/{iid}/status", data={"status": "submitted"}, headers=headers
            )
        )


def _figures(page: Page) -> list[tuple[str, str]]:
    return page.eval_on_selector_all(
        "[data-figure]", "els => els.map(e => [e.dataset.figure, e.dataset.value])"
    )


def test_dashboard_shows_the_reports_numbers(
    page: Page, api: Api, make_context: Any, coco_samples: Path
) -> None:
    for who in NOISE:
        api.post("/api/users", {"username": who, "password": PASSWORD})
    files = [coco_samples / "test_coco.json", *sorted(coco_samples.glob("*.jpg"))]
    project = api.create_project("dashboard", files)
    pid = project["id"]
    for who in NOISE:
        api.post(f"/api/projects/{pid}/members", {"username": who, "role": "annotator"})
    items = api.items(pid)
    truth = {it["id"]: api.get(f"/api/items/{it['id']}")["annotation"] for it in items}
    ids = [it["id"] for it in items]
    api.post(f"/api/projects/{pid}/jobs", {"item_ids": ids[:2], "annotator": "dash-ann1"})
    api.post(f"/api/projects/{pid}/jobs", {"item_ids": ids[2:], "annotator": "dash-ann2"})
    gold = api.post(f"/api/projects/{pid}/gold", {"item_ids": [ids[0]]})
    overlap = api.post(
        f"/api/projects/{pid}/overlap", {"share": 0.5, "annotators_per_item": 2, "seed": 4}
    )
    assert len(overlap["items"]) == 2 and gold["replicas"] == 2
    for who in NOISE:
        _work(make_context(), who, [ids[0], *overlap["items"]], truth)

    report = api.get(f"/api/projects/{pid}/report?format=json")
    page.goto(f"/#/projects/{pid}")  # the page shares the admin's login with ``api``
    page.click("#open-dashboard")
    expect(page.locator("#dash-gold")).to_be_visible()

    expected = {f"{s}|{k}|{m}": v for s, k, m, v in rows(report)}
    shown = _figures(page)
    seen = set()
    for key, value in shown:
        assert key in expected, key
        want = expected[key]
        if want is None:
            assert value == "", key
        else:
            assert float(value) == float(want), (key, value, want)
        seen.add(key)
    assert seen == set(expected)  # every figure of the report is on the page
    # what a person reads agrees too
    for who in NOISE:
        row = next(a for a in report["gold"]["annotators"] if a["username"] == who)
        cell = page.locator(f"td [data-figure='gold|annotator:{who}|keypoint_accuracy']")
        expect(cell).to_have_text(f"{row['keypoint_accuracy']:.3f}")
    careful, careless = (
        next(a for a in report["agreement"]["annotators"] if a["username"] == who) for who in NOISE
    )
    assert careful["mean_oks_vs_consensus"] >= careless["mean_oks_vs_consensus"]
    width = page.locator("rect[data-figure='gold|annotator:dash-ann1|mean_oks']")
    assert float(width.get_attribute("width") or 0) > 0

    # the manager merges one overlap item from the page
    first = overlap["items"][0]
    page.click(f"button.merge[data-item-id='{first}']")
    expect(page.locator(f"button.merge[data-item-id='{first}']")).to_have_count(0)
    assert api.get(f"/api/items/{first}")["version"] > 1
    merged = [i for i in api.get(f"/api/projects/{pid}/agreement")["items"] if i["merged"]]
    assert [i["item_id"] for i in merged] == [first]

    # and marks the last item gold from the form: both annotators get a copy
    (last,) = [i for i in ids if i != ids[0] and i not in overlap["items"]]
    page.fill("#gold-items", str(last))
    page.click("#gold-form button[type=submit]")
    expect(page.locator("#dash-message")).to_have_text("1 gold item, 2 new annotator copies")
    expect(page.locator("[data-figure='gold|all|gold_items']")).to_have_text("2")
    assert api.get(f"/api/projects/{pid}/gold")["items"] == sorted([ids[0], last])
