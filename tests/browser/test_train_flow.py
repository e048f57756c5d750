"""A project with its own skeleton learns from its labels, in a real browser: label
frames (through the API), Train from the project page (the operation runs in the worker
that ``posemark serve`` started), see the version in use with its validation error, then
Suggest on an unlabeled frame in the editor answers with the project's keypoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from browser_helpers import Api, open_editor, wait_saved
from PIL import Image
from playwright.sync_api import Page, expect

GECKO = {
    "name": "gecko",
    "keypoints": ["head", "left_hand", "right_hand", "tail"],
    "edges": [["head", "tail"], ["left_hand", "right_hand"]],
}
COLOURS = ((255, 40, 40), (40, 255, 40), (40, 40, 255), (255, 255, 40))


def pictures(folder: Path, n: int) -> dict[Path, np.ndarray]:
    """Grey pictures with one coloured square per keypoint, and where they are."""
    rng = np.random.default_rng(2)
    folder.mkdir()
    out = {}
    for i in range(n):
        image = np.full((60, 80, 3), 90, dtype=np.uint8)
        pts = np.column_stack([rng.uniform(6, 74, 4), rng.uniform(6, 54, 4)])
        for (x, y), colour in zip(pts, COLOURS, strict=True):
            image[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3] = colour
        path = folder / f"gecko{i}.png"
        Image.fromarray(image).save(path)
        out[path] = pts
    return out


def test_train_then_suggest_in_the_project_skeleton(page: Page, api: Api, tmp_path: Path) -> None:
    truth = pictures(tmp_path / "pics", 7)
    project = api.create_project("geckos-train", list(truth), skeleton=GECKO)
    pid = project["id"]
    items = {i["file_name"]: i for i in api.items(pid)}
    unlabeled = items["gecko6.png"]
    for path, pts in truth.items():
        if path.name == "gecko6.png":
            continue
        item = api.get(f"/api/items/{items[path.name]['id']}")
        inst = {
            "id": "i1",
            "keypoints": [[float(x), float(y), 2] for x, y in pts],
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
    panel = page.locator("#train-panel")
    expect(panel).to_have_attribute("data-operation-state", "none")
    page.fill("#train-minutes", "0.05")
    page.click("#train-start")
    expect(panel).not_to_have_attribute("data-operation-state", "none")
    expect(panel).to_have_attribute("data-operation-state", "done", timeout=240_000)
    expect(panel).to_contain_text("Trained v1")
    expect(panel).to_contain_text("now in use")
    version = page.locator("#train-models li[data-version='1']")
    expect(version).to_have_attribute("data-in-use", "true")
    expect(version).to_contain_text("validation error")

    open_editor(page, unlabeled["id"])
    page.fill("#suggest-min-score", "0")
    page.click("#suggest-whole")
    predicted = page.locator(".keypoint[data-source='model'][data-confirmed='false']")
    expect(predicted).to_have_count(4, timeout=60_000)
    names = sorted(predicted.evaluate_all("(els) => els.map((e) => e.dataset.keypoint)"))
    assert names == sorted(GECKO["keypoints"])
    wait_saved(page)
