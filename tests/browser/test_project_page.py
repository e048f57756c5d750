"""The project page: thumbnails, status filter, file-name search, import errors, export."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from browser_helpers import Api, BrowserErrors
from playwright.sync_api import BrowserContext, Page, expect


def test_items_filter_search_and_import_errors(page: Page, api: Api, coco_samples: Path) -> None:
    files = [*sorted(coco_samples.glob("*.jpg")), coco_samples / "test_coco.json"]
    project = api.create_project("browse", files)
    items = api.items(project["id"])
    api.post(f"/api/items/{items[1]['id']}/status", {"status": "annotating"})

    page.goto(f"/#/projects/{project['id']}")
    cards = page.locator(".item-card")
    expect(cards).to_have_count(4)
    expect(cards.first).to_contain_text("1 instance")
    page.wait_for_function(
        "[...document.querySelectorAll('.thumb img')].every((img) => img.complete)"
    )
    assert page.evaluate(
        "[...document.querySelectorAll('.thumb img')].every((img) => img.naturalWidth > 0)"
    )

    page.click(".tab[data-status='annotating']")
    expect(cards).to_have_count(1)
    expect(cards.first).to_have_attribute("data-item-id", str(items[1]["id"]))
    page.click(".tab[data-status='new']")
    expect(cards).to_have_count(3)
    page.click(".tab[data-status='all']")
    page.fill("input.search", "0400")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("000000040083.jpg")
    page.fill("input.search", "")
    expect(cards).to_have_count(4)
    # the server sorts: newest change first puts the one saved item first, A-Z after it
    names = sorted(i["file_name"] for i in items)
    page.select_option("select.sort", "-file_name")
    expect(cards.first).to_contain_text(names[-1])
    page.select_option("select.sort", "-updated_at")
    expect(cards.first).to_have_attribute("data-item-id", str(items[1]["id"]))
    page.select_option("select.sort", "file_name")
    expect(cards.first).to_contain_text(names[0])

    # A broken upload is refused as a whole, and the page says which file was wrong.
    page.set_input_files(
        "#import-files",
        [
            {"name": "fine.jpg", "mimeType": "image/jpeg", "buffer": files[0].read_bytes()},
            {"name": "broken.jpg", "mimeType": "image/jpeg", "buffer": b"not an image"},
        ],
    )
    result = page.locator(".import-result.error")
    expect(result).to_contain_text("Nothing was imported")
    expect(result).to_contain_text("broken.jpg")
    expect(cards).to_have_count(4)

    # the export runs as an operation; the page downloads its file when it is done
    with page.expect_download(timeout=60_000) as download:
        page.click("#export-coco")
    assert download.value.suggested_filename.endswith("-coco.json")
    panel = page.locator("#export-panel")
    expect(panel).to_have_attribute("data-operation-state", "done")
    oid = panel.get_attribute("data-operation-id")
    link = page.locator("#export-download")
    expect(link).to_have_attribute("href", f"/api/projects/{project['id']}/operations/{oid}/file")
    page.reload()  # the finished export's link survives a reload
    expect(page.locator("#export-download")).to_be_visible()


def test_annotations_into_existing_items_and_the_export_menu(
    page: Page, api: Api, coco_samples: Path
) -> None:
    """Images first, then their COCO file through the preview-then-import panel."""
    project = api.create_project("later", sorted(coco_samples.glob("*.jpg")))
    page.goto(f"/#/projects/{project['id']}")
    cards = page.locator(".item-card")
    expect(cards).to_have_count(4)
    page.click("details.import-annotations summary")
    coco = coco_samples / "test_coco.json"
    page.set_input_files(
        "#import-annotations-file",
        [{"name": coco.name, "mimeType": "application/json", "buffer": coco.read_bytes()}],
    )
    result = page.locator("#import-annotations-result")
    page.click("#import-annotations-preview")
    expect(result).to_contain_text("Would add 14 instances to 4 items")
    assert all(not item["instances"] for item in api.items(project["id"]))
    page.click("#import-annotations-go")
    expect(result).to_contain_text("Added 14 instances to 4 items")
    expect(cards.first).to_contain_text("instance")
    page.click("#import-annotations-go")  # again: the items have instances now
    expect(result).to_contain_text("choose what to do with them")

    page.select_option("#export-format", "cvat")
    with page.expect_download(timeout=60_000) as download:
        page.click("#export-coco")
    assert download.value.suggested_filename.endswith(".xml"), download.value.suggested_filename
    options = page.eval_on_selector_all("#export-format option", "els => els.map(e => e.value)")
    for fmt in options:  # every format offered is one the server writes
        r = page.request.get(f"/api/projects/{project['id']}/export?format={fmt}", timeout=120_000)
        assert r.status in (200, 400), (fmt, r.status)
        if r.status == 400:  # cannot express a COCO-17 project: says why
            assert fmt in ("mpii-json", "mpii-mat", "nwb", "cvat-video"), fmt


MOUSE_YAML = b"""name: mouse5
keypoints: [snout, left_ear, right_ear, tail_base, tail_tip]
edges: [[snout, left_ear], [snout, right_ear], [tail_base, tail_tip]]
"""


def test_create_a_project_with_an_uploaded_skeleton_file(page: Page, api: Api) -> None:
    """A custom skeleton comes from a YAML file; a broken one is refused with its line."""
    page.goto("/#/projects")
    page.fill("#project-name", "mice")
    page.select_option("#project-skeleton", "__custom_file__")
    expect(page.locator("#project-skeleton-file")).to_be_visible()

    bad = {"name": "broken.yaml", "mimeType": "text/yaml", "buffer": b"name: x\nkeypoints: [a,\n"}
    page.set_input_files("#project-skeleton-file", files=[bad])
    page.click("form.create-project button[type=submit]")
    alert = page.locator("form.create-project .alert.error")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("broken.yaml: line 3")
    assert all(p["name"] != "mice" for p in api.get("/api/projects"))

    good = {"name": "mouse.yaml", "mimeType": "text/yaml", "buffer": MOUSE_YAML}
    page.set_input_files("#project-skeleton-file", files=[good])
    page.click("form.create-project button[type=submit]")
    page.wait_for_function("location.hash.startsWith('#/projects/')")
    created = [p for p in api.get("/api/projects") if p["name"] == "mice"]
    assert len(created) == 1
    skeleton = api.get(f"/api/projects/{created[0]['id']}")["skeleton"]
    assert skeleton["keypoints"] == ["snout", "left_ear", "right_ear", "tail_base", "tail_tip"]
    assert skeleton["sides"] == ["center", "left", "right", "center", "center"]


def test_create_a_project_from_a_coco_files_own_skeleton(
    page: Page, api: Api, testdata: Path
) -> None:
    """CrowdPose's sample names 14 keypoints: the project gets crowdpose14 and the
    people; without the images nothing is created."""
    folder = testdata / "crowdpose" / "mmpose_crowdpose"
    coco = folder / "test_crowdpose.json"
    files = [
        {"name": p.name, "mimeType": "image/jpeg", "buffer": p.read_bytes()}
        for p in sorted(folder.glob("*.jpg"))
    ]
    as_json = {"name": coco.name, "mimeType": "application/json", "buffer": coco.read_bytes()}
    page.goto("/#/projects")
    page.fill("#project-name", "crowd")
    page.select_option("#project-skeleton", "__from_coco__")
    page.set_input_files("#project-coco-files", files=[as_json, files[0]])
    page.click("form.create-project button[type=submit]")
    alert = page.locator("form.create-project .alert.error")
    expect(alert).to_contain_text("not among the uploaded images")
    assert all(p["name"] != "crowd" for p in api.get("/api/projects"))

    page.set_input_files("#project-coco-files", files=[as_json, *files])
    page.click("form.create-project button[type=submit]")
    page.wait_for_function("location.hash.startsWith('#/projects/')")
    (created,) = [p for p in api.get("/api/projects") if p["name"] == "crowd"]
    assert created["skeleton"]["name"] == "crowdpose14"
    assert sum(i["instances"] for i in api.items(created["id"])) == 5


def test_managers_add_members_and_everyone_sees_them(page: Page, api: Api) -> None:
    project = api.post("/api/projects", {"name": "team", "skeleton": "coco17"})
    api.post("/api/users", {"username": "bo", "password": "long-enough-pw"})
    page.goto(f"/#/projects/{project['id']}")
    panel = page.locator("details.members-panel")
    panel.locator("summary").click()
    expect(panel.locator("li[data-username='admin']")).to_have_attribute("data-role", "manager")
    page.fill("#member-username", "nobody")
    page.click(".member-form button[type=submit]")
    expect(panel.locator(".alert.error")).to_contain_text("no user named 'nobody'")
    page.fill("#member-username", "bo")
    page.select_option("#member-role", "reviewer")
    page.click(".member-form button[type=submit]")
    expect(panel.locator("li[data-username='bo']")).to_have_attribute("data-role", "reviewer")
    expect(panel.locator("summary")).to_have_text("Members (2)")
    members = api.get(f"/api/projects/{project['id']}/members")
    assert {(m["user"]["username"], m["role"]) for m in members} == {
        ("admin", "manager"),
        ("bo", "reviewer"),
    }


def test_new_project_is_offered_only_to_those_allowed_to_create(
    api: Api, make_context: Callable[[], BrowserContext], js_errors: BrowserErrors
) -> None:
    """A plain account sees no "New project" form; one an admin allowed does."""
    suffix = uuid.uuid4().hex[:6]
    for name, allowed in ((f"plain-{suffix}", False), (f"lead-{suffix}", True)):
        api.post(
            "/api/users",
            {"username": name, "password": "long-enough-pw", "can_create_projects": allowed},
        )
        page = js_errors.watch(make_context().new_page())
        page.goto("/")
        page.fill("#login-username", name)
        page.fill("#login-password", "long-enough-pw")
        page.click("button[type=submit]")
        expect(page.locator(".page-head h1")).to_have_text("Projects")
        expect(page.locator(".project-list")).to_be_visible()
        expect(page.locator("#create-project-title")).to_have_count(1 if allowed else 0)
        if not allowed:
            expect(page.locator(".empty-state")).to_contain_text("An admin")


def test_next_and_previous_page_by_cursor(
    page: Page, api: Api, coco_samples: Path, tmp_path: Path
) -> None:
    """Next and previous ask for the page after / before the one shown (a cursor, an
    index range however deep), and the page says where it is in the list."""
    photo = sorted(coco_samples.glob("*.jpg"))[0].read_bytes()
    files = []
    for i in range(100):
        path = tmp_path / f"frame_{i:03d}.jpg"
        path.write_bytes(photo)
        files.append(path)
    project = api.create_project("pages", files)
    asked: list[str] = []
    page.on(
        "request",
        lambda r: asked.append(r.url) if f"/api/projects/{project['id']}/items" in r.url else None,
    )
    page.goto(f"/#/projects/{project['id']}")
    cards = page.locator(".item-card")
    pager = page.locator(".pager").first
    expect(pager).to_contain_text("1–48 of 100")
    expect(cards.first).to_contain_text("frame_000.jpg")
    next_button = pager.get_by_role("button", name="Next ›")
    previous = pager.get_by_role("button", name="‹ Previous")
    next_button.click()
    expect(pager).to_contain_text("49–96 of 100")
    expect(cards.first).to_contain_text("frame_048.jpg")
    assert "after=" in asked[-1] and "offset=0" in asked[-1]
    next_button.click()
    expect(pager).to_contain_text("97–100 of 100")
    expect(cards).to_have_count(4)
    expect(next_button).to_be_disabled()
    previous.click()
    expect(pager).to_contain_text("49–96 of 100")
    expect(cards.first).to_contain_text("frame_048.jpg")
    expect(cards).to_have_count(48)
    assert "before=" in asked[-1]
    previous.click()
    expect(pager).to_contain_text("1–48 of 100")
    expect(cards.first).to_contain_text("frame_000.jpg")
    assert "after=" not in asked[-1] and "before=" not in asked[-1]
    expect(previous).to_be_disabled()
    # a new search starts again from the first page
    next_button.click()
    expect(pager).to_contain_text("49–96 of 100")
    page.fill("input.search", "frame_09")
    expect(pager).to_contain_text("1–10 of 10")
    expect(cards.first).to_contain_text("frame_090.jpg")
