"""QA findings in the browser: a misplaced keypoint gets a marker on that keypoint in the
editor, fixing it (dragging it back) clears the marker, and the project's QA page lists
the finding with a link to its item."""

from __future__ import annotations

from pathlib import Path

from browser_helpers import Api, image_to_client, open_editor, wait_saved
from playwright.sync_api import Page, Route, expect

MISPLACED = (500.0, 380.0)  # left wrist of COCO person 442619, moved to its right ankle's side


def _centre(page: Page, selector: str) -> tuple[float, float]:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_finding_marks_its_keypoint_and_clears_when_fixed(
    page: Page, api: Api, coco_samples: Path
) -> None:
    files = [coco_samples / "test_coco.json", *sorted(coco_samples.glob("*.jpg"))]
    project = api.create_project("qa-markers", files)
    item = api.items(project["id"])[0]
    assert item["file_name"] == "000000000785.jpg"  # one person: COCO 442619
    detail = api.get(f"/api/items/{item['id']}")
    doc = detail["annotation"]
    inst = doc["instances"][0]
    wrist = project["skeleton"]["keypoints"].index("left_wrist")
    original = inst["keypoints"][wrist][:2]
    inst["keypoints"][wrist] = [*MISPLACED, 2]
    answer = api.request.put(
        f"/api/items/{item['id']}/annotation",
        data={"base_version": detail["version"], "annotation": doc},
        headers=api.csrf,
    )
    Api.check(answer)

    open_editor(page, item["id"])
    marker = (
        f".finding[data-check='bone_length_outlier'][data-keypoint='left_wrist']"
        f"[data-instance-id='{inst['id']}']"
    )
    expect(page.locator(marker)).to_have_count(1)
    # the pose model, looking at the image, puts the wrist elsewhere too
    seen = (
        f".finding[data-check='model_agreement'][data-keypoint='left_wrist']"
        f"[data-instance-id='{inst['id']}']"
    )
    expect(page.locator(seen)).to_have_count(1)
    expect(page.locator(".finding")).to_have_count(2)
    expect(page.locator(marker)).to_have_attribute("data-severity", "warning")
    dot = f".keypoint[data-instance-id='{inst['id']}'][data-keypoint='left_wrist'] .dot"
    mx, my = _centre(page, marker)
    kx, ky = _centre(page, dot)
    assert abs(mx - kx) < 1.5 and abs(my - ky) < 1.5, ((mx, my), (kx, ky))

    # Dragging the wrist back to where COCO has it clears the finding after the save.
    page.mouse.move(*image_to_client(page, *MISPLACED))
    page.mouse.down()
    page.mouse.move(*image_to_client(page, *original), steps=6)
    page.mouse.up()
    wait_saved(page)
    expect(page.locator(".finding")).to_have_count(0)

    # Put the error back through the API: the project's QA page lists it, linked.
    detail = api.get(f"/api/items/{item['id']}")
    doc = detail["annotation"]
    doc["instances"][0]["keypoints"][wrist] = [*MISPLACED, 2]
    Api.check(
        api.request.put(
            f"/api/items/{item['id']}/annotation",
            data={"base_version": detail["version"], "annotation": doc},
            headers=api.csrf,
        )
    )
    page.goto(f"/#/projects/{project['id']}")
    page.click("#open-qa")
    row = page.locator(".qa-findings tr.qa-finding[data-check='bone_length_outlier']")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("left_wrist")
    count = ".qa-summary tr[data-check='bone_length_outlier'] td[data-severity='warning']"
    expect(page.locator(count)).to_have_text("1")
    row.locator("a").click()
    page.wait_for_selector(f".editor[data-item-id='{item['id']}']")
    expect(page.locator(marker)).to_have_count(1)


def test_qa_page_pages_through_the_servers_list(page: Page, api: Api, coco_samples: Path) -> None:
    """The page shows one page of findings at a time (here 1, the page size rewritten in
    its requests) with the counts the server sends; Next and Previous walk the server's
    list, and a check's filter pages over that check alone."""
    files = [coco_samples / "test_coco.json", *sorted(coco_samples.glob("*.jpg"))]
    project = api.create_project("qa-pages", files)
    pid = project["id"]
    everything = api.get(f"/api/projects/{pid}/qa?limit=1000&severity=error,warning,info")
    assert everything["total"] >= 3

    def one_a_page(route: Route) -> None:
        route.continue_(url=route.request.url.replace("limit=100", "limit=1"))

    page.route("**/api/projects/*/qa?*", one_a_page)
    page.goto(f"/#/projects/{pid}/qa")
    rows = page.locator(".qa-findings tr.qa-finding")
    expect(rows).to_have_count(1)
    page.check("#qa-show-info")
    seen: list[str] = []
    while True:
        expect(page.locator(".qa-page .muted")).to_contain_text(
            f"{everything['total']} findings, {len(seen) + 1}–"
        )
        seen += rows.evaluate_all("rs => rs.map(r => r.dataset.check + r.cells[5].textContent)")
        if page.locator(".qa-next").is_disabled():
            break
        page.click(".qa-next")
    want = [f["check"] + f["message"] for f in everything["findings"]]
    assert seen == want
    page.click(".qa-prev")
    before_last = len(seen) - 1
    expect(page.locator(".qa-page .muted")).to_contain_text(f", {before_last}–{before_last}")
    # the summary's counts are the server's, per check and severity
    for check, by_sev in everything["severity_counts"].items():
        for sev, n in by_sev.items():
            cell = f".qa-summary tr[data-check='{check}'] td[data-severity='{sev}']"
            expect(page.locator(cell)).to_have_text(str(n))
    check = max(everything["counts"], key=lambda c: everything["counts"][c])
    page.click(f".qa-summary tr[data-check='{check}'] button")
    expect(page.locator(".qa-page .muted")).to_contain_text(
        f"{everything['counts'][check]} finding"
    )
    expect(rows.first).to_have_attribute("data-check", check)
    assert set(rows.evaluate_all("rs => rs.map(r => r.dataset.check)")) == {check}


def test_a_manager_reruns_the_checks_with_a_bar_that_survives_a_reload(
    page: Page, api: Api, coco_samples: Path
) -> None:
    """The QA page's "Re-run checks" queues the ``qa-rerun`` operation; the server's
    worker runs it; the page follows it and, after a reload, still shows how it ended."""
    files = [coco_samples / "test_coco.json", *sorted(coco_samples.glob("*.jpg"))]
    project = api.create_project("qa-rerun-page", files)
    page.goto(f"/#/projects/{project['id']}/qa")
    panel = page.locator("#qa-rerun-panel")
    expect(panel).to_have_attribute("data-operation-state", "none")
    summary = page.locator(".qa-summary")
    expect(summary.locator("tr[data-check]").first).to_be_visible()
    before = summary.text_content() or ""
    page.click("#qa-rerun")
    expect(panel).to_have_attribute("data-operation-state", "done", timeout=60_000)
    expect(panel.locator(".operation-text")).to_contain_text("QA re-run done: 8 / 8")
    expect(summary).to_have_text(before)  # the same findings, read again
    page.reload()
    expect(page.locator("#qa-rerun-panel")).to_have_attribute("data-operation-state", "done")
    expect(page.locator("#qa-rerun")).to_be_enabled()
