"""Label next in a real browser: a manager orders the queue from the project page (the
operation runs in the worker ``posemark serve`` started; no trained model, so by image
diversity, and the page says so), the editor's "Label next" mode makes Next follow that
queue instead of the file-name order, and turning it off brings the file-name order back."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from browser_helpers import Api, open_editor
from PIL import Image
from playwright.sync_api import Page, expect

GECKO = {
    "name": "gecko",
    "keypoints": ["head", "left_hand", "right_hand", "tail"],
    "edges": [["head", "tail"], ["left_hand", "right_hand"]],
}


def scenes(folder: Path) -> list[Path]:
    """Three looks, three pictures each: s0_* ramps across, s1_* ramps down, s2_* checks."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    yy, xx = np.mgrid[0:60, 0:80]
    looks = [xx * 3, yy * 4, ((xx // 10 + yy // 10) % 2) * 200]
    paths = []
    for kind, look in enumerate(looks):
        for i in range(3):
            image = np.repeat(look[..., None], 3, axis=2) + rng.normal(0, 3, (60, 80, 3))
            path = folder / f"s{kind}_{i}.png"
            Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(path)
            paths.append(path)
    return paths


def test_next_follows_the_label_next_queue(page: Page, api: Api, tmp_path: Path) -> None:
    project = api.create_project("geckos-next", scenes(tmp_path / "pics"), skeleton=GECKO)
    pid = project["id"]
    items = {i["file_name"]: i for i in api.items(pid)}
    for name in ("s0_0.png", "s0_1.png"):
        item = api.get(f"/api/items/{items[name]['id']}")
        inst = {
            "id": "i1",
            "keypoints": [[10.0 + 5 * k, 20.0, 2] for k in range(4)],
            "bbox": None,
            "bbox_mode": "derived",
            "source": "human",
            "confirmed": True,
            "track_id": None,
        }
        api.put(
            f"/api/items/{item['id']}/annotation",
            {"base_version": item["version"], "annotation": {"instances": [inst]}},
        )

    page.goto(f"/#/projects/{pid}")
    panel = page.locator("#label-next-panel")
    expect(panel).to_have_attribute("data-operation-state", "none")
    page.click("#label-next-start")
    expect(panel).to_have_attribute("data-operation-state", "done", timeout=120_000)
    expect(panel).to_contain_text("Queued 7 of 7 unlabeled items")
    expect(panel).to_contain_text("image diversity only")

    first = api.get(f"/api/projects/{pid}/label-next")
    second = api.get(f"/api/projects/{pid}/label-next?after={first['item_id']}")
    by_id = {i["id"]: name for name, i in items.items()}
    # the labeled scene's last picture is not what the queue asks for first
    assert {by_id[first["item_id"]][:2], by_id[second["item_id"]][:2]} == {"s1", "s2"}

    start = items["s0_0.png"]["id"]
    assert api.get(f"/api/projects/{pid}/label-next?after={start}") == first
    open_editor(page, start)
    toggle = page.locator("#label-next-toggle")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    # generous waits: on the shared 2-core test machine a request can take seconds
    expect(toggle).to_have_attribute(
        "data-note", re.compile("image diversity only"), timeout=30_000
    )
    page.get_by_role("button", name="Next item (.)").click()
    page.wait_for_selector(f".editor[data-item-id='{first['item_id']}']", timeout=30_000)
    page.wait_for_selector(".stage-loading", state="hidden")
    # the mode is remembered; the keyboard's Next follows the queue too
    expect(page.locator("#label-next-toggle")).to_have_attribute("aria-pressed", "true")
    page.locator("svg.stage").focus()
    page.keyboard.press(".")
    page.wait_for_selector(f".editor[data-item-id='{second['item_id']}']", timeout=30_000)

    # off again: Next is the file-name order
    open_editor(page, start)
    page.locator("#label-next-toggle").click()
    expect(page.locator("#label-next-toggle")).to_have_attribute("aria-pressed", "false")
    page.get_by_role("button", name="Next item (.)").click()
    page.wait_for_selector(f".editor[data-item-id='{items['s0_1.png']['id']}']", timeout=30_000)
