"""The main job end to end in a real browser: log in, create a COCO-17 project, import
images and a COCO file through the page, annotate a new person with mouse clicks at
known image coordinates (at 1x and 3x zoom), flag occlusion, drag, undo/redo, reload,
and export COCO that pycocotools reads back with the same keypoints."""

from __future__ import annotations

import json
import re
from pathlib import Path

from browser_helpers import ADMIN, ADMIN_PASSWORD, Api, click_image, image_to_client, wait_saved
from playwright.sync_api import Page, expect
from pycocotools.coco import COCO

from posemark.schemas import load_builtin

COCO17 = list(load_builtin("coco17").keypoints)

# A person drawn left of the skier in 000000000785.jpg (640 x 425), at sub-pixel positions.
# The first nine are placed at zoom 1x, the rest at 3x.
POSE = {
    "nose": (150.25, 70.5),
    "left_eye": (158.5, 62.75),
    "right_eye": (141.75, 62.5),
    "left_ear": (170.0, 68.25),
    "right_ear": (130.5, 68.0),
    "left_shoulder": (185.25, 110.5),
    "right_shoulder": (115.75, 110.25),
    "left_elbow": (200.5, 160.75),
    "right_elbow": (100.25, 160.5),
    "left_wrist": (210.75, 205.25),
    "right_wrist": (90.5, 205.5),
    "left_hip": (172.25, 220.75),
    "right_hip": (128.5, 220.25),
    "left_knee": (178.75, 300.5),
    "right_knee": (122.25, 300.75),
    "left_ankle": (182.5, 372.25),
    "right_ankle": (118.75, 372.5),
}
DRAGGED = "right_wrist"
DRAGGED_TO = (96.25, 198.75)
OCCLUDED = "left_knee"
TOLERANCE = 0.5


def expected_pose() -> dict[str, tuple[float, float, int]]:
    pose = {name: (x, y, 2) for name, (x, y) in POSE.items()}
    pose[DRAGGED] = (*DRAGGED_TO, 2)
    x, y, _ = pose[OCCLUDED]
    pose[OCCLUDED] = (x, y, 1)
    return pose


def keypoint(page: Page, instance_id: str, name: str) -> str:
    return f".keypoint[data-instance-id='{instance_id}'][data-keypoint='{name}']"


def keypoint_centre(page: Page, instance_id: str, name: str) -> tuple[float, float]:
    """Where the drawn keypoint's centre is, in image pixels (through the view inverse).

    A save refreshes the item's QA findings and re-renders the overlay, which replaces
    the keypoint's element; a measurement that catches the old element detached is
    retried on the new one."""
    box = None
    for _ in range(20):
        box = page.locator(keypoint(page, instance_id, name)).bounding_box()
        if box is not None:
            break
        page.wait_for_timeout(50)
    assert box is not None, f"{name} of {instance_id} is not drawn"
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    point = page.evaluate("([x, y]) => window.posemarkEditor.clientToImage(x, y)", [cx, cy])
    return point["x"], point["y"]


def assert_close(actual: tuple[float, float], expected: tuple[float, float], what: str) -> None:
    dx, dy = actual[0] - expected[0], actual[1] - expected[1]
    assert abs(dx) <= TOLERANCE and abs(dy) <= TOLERANCE, f"{what}: {actual} != {expected}"


def test_annotate_import_export_flow(page: Page, coco_samples: Path, tmp_path: Path) -> None:
    # Log in through the form (the app sends us there).
    page.goto("/")
    page.fill("#login-username", ADMIN)
    page.fill("#login-password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#create-project-title")).to_be_visible()

    # Create a COCO-17 project and import 4 images and the COCO file through the upload.
    page.fill("#project-name", "flow")
    page.select_option("#project-skeleton", "coco17")
    page.click("text=Create project")
    expect(page.locator(".drop-zone")).to_be_visible()
    files = [*sorted(coco_samples.glob("*.jpg")), coco_samples / "test_coco.json"]
    page.set_input_files("#import-files", files)
    expect(page.locator(".import-result")).to_have_text("Imported 4 items and 14 instances.")
    expect(page.locator(".item-card")).to_have_count(4)

    # Open the skier.
    page.click(".item-card:has-text('000000000785.jpg') a")
    editor = page.locator(".editor")
    expect(editor).to_have_attribute("data-item-id", re.compile(r"\d+"))
    item_id = int(editor.get_attribute("data-item-id") or 0)
    page.wait_for_selector(".stage-loading", state="hidden")

    # A new instance; its first keypoint is announced.
    page.keyboard.press("n")
    instance_id = page.evaluate("window.posemarkEditor.selection.instanceId")
    assert instance_id == "i1"  # the imported skier is a442619 (its COCO annotation id)
    expect(page.locator("[data-next-keypoint]")).to_have_attribute("data-next-keypoint", "nose")

    # Nine keypoints at 1:1.
    page.keyboard.press("1")
    expect(editor).to_have_attribute("data-zoom", "1")
    names = list(POSE)
    for name in names[:9]:
        click_image(page, *POSE[name])
    expect(page.locator("[data-next-keypoint]")).to_have_attribute(
        "data-next-keypoint", "left_wrist"
    )

    # Wheel zoom keeps the image point under the cursor where it is.
    anchor = image_to_client(page, 150, 290)
    page.mouse.move(*anchor)
    page.mouse.wheel(0, -240)
    page.wait_for_function("window.posemarkEditor.zoom > 1.2")
    under = page.evaluate("([x, y]) => window.posemarkEditor.clientToImage(x, y)", list(anchor))
    assert abs(under["x"] - 150) < 1e-6 and abs(under["y"] - 290) < 1e-6

    # The other eight at 3x.
    page.evaluate("window.posemarkEditor.setZoom(3, 150, 290)")
    expect(editor).to_have_attribute("data-zoom", "3")
    for name in names[9:]:
        click_image(page, *POSE[name])
    expect(page.locator(".next-chip.complete")).to_be_visible()
    before = page.evaluate("JSON.stringify(window.posemarkEditor.document)")
    click_image(page, 40, 40)  # all placed: a click starts nothing
    assert page.evaluate("JSON.stringify(window.posemarkEditor.document)") == before

    # Occlusion: select the keypoint by clicking it, then V.
    click_image(page, *POSE[OCCLUDED])
    page.keyboard.press("v")
    expect(page.locator(keypoint(page, instance_id, OCCLUDED))).to_have_attribute(
        "data-visibility", "1"
    )

    # Drag exactly one keypoint; its neighbours stay put.
    page.mouse.move(*image_to_client(page, *POSE[DRAGGED]))
    page.mouse.down()
    page.mouse.move(*image_to_client(page, *DRAGGED_TO), steps=6)
    page.mouse.up()
    assert_close(keypoint_centre(page, instance_id, DRAGGED), DRAGGED_TO, DRAGGED)
    assert_close(keypoint_centre(page, instance_id, "left_wrist"), POSE["left_wrist"], "left_wrist")

    # Undo puts it back, redo moves it again.
    page.keyboard.press("Control+z")
    assert_close(keypoint_centre(page, instance_id, DRAGGED), POSE[DRAGGED], "undone drag")
    page.keyboard.press("Control+Shift+z")
    assert_close(keypoint_centre(page, instance_id, DRAGGED), DRAGGED_TO, "redone drag")

    # Saved: reload and compare what the server and the page show with what was intended.
    wait_saved(page)
    page.reload()
    page.wait_for_selector(f".editor[data-item-id='{item_id}'][data-save-state='saved']")
    page.wait_for_selector(".stage-loading", state="hidden")
    expected = expected_pose()
    saved = Api(page.context.request).get(f"/api/items/{item_id}")
    assert saved["status"] == "annotating"
    (mine,) = [i for i in saved["annotation"]["instances"] if i["id"] == instance_id]
    assert mine["bbox_mode"] == "derived"
    for name, (x, y, v) in expected.items():
        sx, sy, sv = mine["keypoints"][COCO17.index(name)]
        assert sv == v, name
        assert_close((sx, sy), (x, y), f"saved {name}")
        element = page.locator(keypoint(page, instance_id, name))
        expect(element).to_have_attribute("data-visibility", str(v))
        assert_close(keypoint_centre(page, instance_id, name), (x, y), f"drawn {name}")

    # Export COCO from the project page; pycocotools reads it and finds our person.
    page.click(".crumbs a:nth-of-type(2)")
    # the API client above logged in again in this browser's cookie jar: a reload picks
    # up that session's CSRF token (the export is started with a POST)
    page.reload()
    # a worker writes the export (an operation); the page downloads it when it is done
    with page.expect_download(timeout=60_000) as download_info:
        page.click("#export-coco")
    exported = tmp_path / "export.json"
    download_info.value.save_as(exported)
    coco = COCO(str(exported))
    assert coco.loadCats(coco.getCatIds())[0]["keypoints"] == COCO17
    (image,) = [im for im in coco.dataset["images"] if im["file_name"] == "000000000785.jpg"]
    annotations = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
    assert len(annotations) == 2

    def matches(ann: dict) -> bool:
        x, y = ann["keypoints"][0:2]
        return abs(x - POSE["nose"][0]) <= TOLERANCE and abs(y - POSE["nose"][1]) <= TOLERANCE

    (ann,) = [a for a in annotations if matches(a)]
    assert ann["num_keypoints"] == 17
    for k, name in enumerate(COCO17):
        x, y, v = expected[name]
        ex, ey, ev = ann["keypoints"][3 * k : 3 * k + 3]
        assert ev == v, name
        assert_close((ex, ey), (x, y), f"exported {name}")
    json.loads(exported.read_text())  # plain JSON, not wrapped
