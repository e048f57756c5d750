"""Every page at 1280x720 and 1440x900: no interactive element is covered by another or
clipped (cut by a box that does not scroll, or its text cut short), the editor's chip and
conflict banner stay off the image, and the keypoint list keeps its rows with a comment
and the history open. A screenshot of each page is kept as a test artifact (folder
``$POSEMARK_ARTIFACTS`` or ``test-artifacts/`` at the repository root, ``layout/``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from browser_helpers import Api
from playwright.sync_api import BrowserContext, FormData, Page

from videogen import write_video

SIZES = [(1280, 720), (1440, 900)]
ARTIFACTS = Path(
    os.environ.get("POSEMARK_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")
)

# Interactive elements, where each is, and what covers or cuts it: in the page, so the
# boxes are the ones the browser laid out. Scrolled-away parts of a scrolling box are
# fine (the user scrolls); a box that hides its overflow, or another element on top, is
# not. Text inputs legitimately scroll their own text, so only other controls are checked
# for cut text.
FIND_PROBLEMS = """
() => {
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary, ' +
    '[role=button], [role=slider], [role=tab]';
  const vw = document.documentElement.clientWidth;
  const vh = window.innerHeight;
  const pageScrolls = document.documentElement.scrollHeight > vh + 1;
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1 || el.closest('.help-overlay')) return false;
    const folded = el.closest('details:not([open])');
    if (folded && !(el.tagName === 'SUMMARY' && el.parentElement === folded)) return false;
    for (let a = el; a; a = a.parentElement) {
      const cs = getComputedStyle(a);
      if (cs.display === 'none' || cs.visibility === 'hidden' || cs.opacity === '0') return false;
      // visually hidden on purpose (screen readers only, skip links until focused)
      if (cs.clip !== 'auto' && cs.clip !== '') return false;
    }
    const cs = getComputedStyle(el);
    const offscreen = r.right <= 0 || r.left >= vw;
    return !(offscreen && (cs.position === 'absolute' || cs.position === 'fixed'));
  };
  const name = (el) => {
    const text = (el.getAttribute('aria-label') || el.textContent || el.name || el.id || '')
      .trim().replace(/\\s+/g, ' ').slice(0, 40);
    const cls = typeof el.className === 'string' && el.className.trim()
      ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
    return `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${cls} "${text}"`;
  };
  const meet = (a, b) => ({
    left: Math.max(a.left, b.left), right: Math.min(a.right, b.right),
    top: Math.max(a.top, b.top), bottom: Math.min(a.bottom, b.bottom),
  });
  // where an element is, the part of it that can be seen (every box with overflow cuts
  // it; a scrolling box shows what is scrolled into view), and the boxes that hide their
  // overflow without scrolling (what they cut cannot be reached at all)
  const place = (el) => {
    const r = el.getBoundingClientRect();
    const screen = { left: 0, right: vw, top: pageScrolls ? -1e9 : 0,
                     bottom: pageScrolls ? 1e9 : vh };
    let seen = meet(r, screen);
    let box = r;  // what must fit: the element, or the scrolling box that holds it
    let cut = false;
    const exceeds = (b, c) => b.left < c.left - 1 || b.right > c.right + 1 ||
                              b.top < c.top - 1 || b.bottom > c.bottom + 1;
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const cs = getComputedStyle(a);
      if (cs.overflowX === 'visible' && cs.overflowY === 'visible') continue;
      const ar = a.getBoundingClientRect();
      seen = meet(seen, ar);
      if (/auto|scroll/.test(cs.overflowX + cs.overflowY)) box = ar;
      else if (exceeds(box, ar)) cut = true;
    }
    if (exceeds(box, screen)) cut = true;
    const away = seen.right - seen.left < 4 || seen.bottom - seen.top < 4;
    return { r, seen, cut, away };
  };
  const problems = [];
  const live = [];
  for (const el of document.querySelectorAll(selector)) {
    if (!shown(el)) continue;
    const p = place(el);
    if (p.cut) { problems.push(`clipped: ${name(el)}`); continue; }
    if (p.away) continue;  // scrolled out of view: the user scrolls to it
    live.push([el, p.seen]);
    if (!['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName) &&
        el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible')
      problems.push(`text cut: ${name(el)}`);
    // the middle of its visible part must reach it, not something drawn over it
    const x = (p.seen.left + p.seen.right) / 2;
    const y = (p.seen.top + p.seen.bottom) / 2;
    if (x < 0 || y < 0 || x >= vw || y >= vh) continue;
    const hit = document.elementFromPoint(x, y);
    if (!hit || hit === el || el.contains(hit) || hit.contains(el)) continue;
    const label = hit.closest('label');
    if (label && label.contains(el)) continue;
    problems.push(`covered: ${name(el)} under ${name(hit)}`);
  }
  // controls that do not contain one another must not share visible space
  for (let i = 0; i < live.length; i++) {
    for (let j = i + 1; j < live.length; j++) {
      const [a, ra] = live[i];
      const [b, rb] = live[j];
      if (a.contains(b) || b.contains(a)) continue;
      const m = meet(ra, rb);
      if (m.right - m.left > 2 && m.bottom - m.top > 2)
        problems.push(`overlap: ${name(a)} and ${name(b)}`);
    }
  }
  return problems;
}
"""

VISIBLE_KEYPOINT_ROWS = """
() => {
  const body = document.querySelector('.panel-body').getBoundingClientRect();
  return [...document.querySelectorAll('.keypoint-row')].filter((row) => {
    const r = row.getBoundingClientRect();
    return r.height > 0 && r.top >= body.top - 1 && r.bottom <= body.bottom + 1;
  }).length;
}
"""


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "walk.mp4", 12)


@pytest.fixture
def pages(
    api: Api, coco_samples: Path, clip: Path, request: pytest.FixtureRequest
) -> dict[str, str]:
    """Every page, on a project with annotated people, a comment, jobs and a video."""
    files = [*sorted(coco_samples.glob("*.jpg")), coco_samples / "test_coco.json"]
    tag = request.node.callspec.id
    project = api.create_project(f"layout {tag}", files)
    pid = project["id"]
    item = next(i for i in api.items(pid) if i["file_name"] == "000000000785.jpg")
    person = api.get(f"/api/items/{item['id']}")["annotation"]["instances"][0]
    api.post(
        f"/api/items/{item['id']}/comments",
        {
            "text": "The left wrist is on the ski pole, not the glove: move it a little up.",
            "instance_id": person["id"],
            "keypoint": "left_wrist",
        },
    )
    api.post(f"/api/projects/{pid}/jobs", {"size": 2, "annotator": None, "reviewer": None})
    video_project = api.post("/api/projects", {"name": f"layout video {tag}", "skeleton": "coco17"})
    form = FormData()
    form.append("files", {"name": clip.name, "mimeType": "video/mp4", "buffer": clip.read_bytes()})
    api.check(
        api.request.post(
            f"/api/projects/{video_project['id']}/import", multipart=form, headers=api.csrf
        )
    )
    (video,) = api.get(f"/api/projects/{video_project['id']}/videos")
    frame = api.get(f"/api/videos/{video['id']}/frames/3/item")["item_id"]
    return {
        "projects": "#/projects",
        "project": f"#/projects/{pid}",
        "jobs": f"#/projects/{pid}/jobs",
        "qa": f"#/projects/{pid}/qa",
        "gallery": f"#/projects/{pid}/gallery",
        "review": f"#/projects/{pid}/review",
        "guidelines": f"#/projects/{pid}/guidelines",
        "dashboard": f"#/projects/{pid}/dashboard",
        "video-project": f"#/projects/{video_project['id']}",
        "editor": f"#/items/{item['id']}",
        "video-editor": f"#/items/{frame}",
    }


# What the generic check cannot see: text cut or wrapped where it must not be, and
# controls drawn in a shape that hides what they are.
PAGE_CHECKS = {
    "jobs": """
() => {
  const problems = [];
  for (const box of document.querySelectorAll('input[type=checkbox]')) {
    const r = box.getBoundingClientRect();
    const label = box.closest('label').getBoundingClientRect();
    const what = `checkbox ${box.value || box.name}`;
    if (r.width > 24 || r.height > 24) problems.push(`${what} is ${r.width}x${r.height}`);
    if (label.height > 2 * r.height + 16) problems.push(`${what} sits above its label`);
  }
  return problems;
}
""",
    "editor": """
() => {
  const problems = [];
  const save = document.querySelector('.save-indicator');
  if (save.scrollWidth > save.clientWidth + 1)
    problems.push(`save indicator cut: ${save.textContent}`);
  const label = document.querySelector('.suggest-tools .score-label');
  if (label && label.getClientRects().length && label.getBoundingClientRect().height > 24)
    problems.push('"min score" wraps');
  return problems;
}
""",
    "video-project": """
() => [...document.querySelectorAll('.item-card .item-name')].filter((name) => {
  const tail = name.querySelector('.name-tail');
  if (!tail) return true;
  const r = tail.getBoundingClientRect(), n = name.getBoundingClientRect();
  return r.right > n.right + 1 || r.width < 1;
}).map((name) => `frame number cut: ${name.textContent}`)
""",
}


def _settle(page: Page) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_function("!document.querySelector('.page-loading')")
    page.wait_for_timeout(150)


def _shoot(page: Page, backend: str, size: tuple[int, int], name: str) -> None:
    folder = ARTIFACTS / "layout" / backend
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}-{size[0]}x{size[1]}.png"))


def _editor_extras(page: Page) -> list[str]:
    """The chip and the conflict banner beside the image, never on it; the keypoint list
    keeps room with an instance selected, a comment listed and the history open."""
    problems = []
    page.wait_for_selector(".stage-loading", state="hidden")
    page.click(".instance-row .instance-select >> nth=0")
    page.click(".history summary")
    page.evaluate("document.querySelector('.conflict-banner').hidden = false")
    page.keyboard.press("f")
    photo = page.locator("svg.stage .photo").bounding_box()
    for chrome in (".next-chip", ".conflict-banner"):
        box = page.locator(chrome).bounding_box()
        assert photo is not None and box is not None
        w = min(photo["x"] + photo["width"], box["x"] + box["width"]) - max(photo["x"], box["x"])
        h = min(photo["y"] + photo["height"], box["y"] + box["height"]) - max(photo["y"], box["y"])
        if w > 0 and h > 0:
            problems.append(f"{chrome} covers the image")
    return problems


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_no_page_has_covered_or_clipped_controls(
    make_context: Callable[[], BrowserContext],
    page: Page,
    pages: dict[str, str],
    size: tuple[int, int],
    request: pytest.FixtureRequest,
) -> None:
    backend = request.node.callspec.params.get("server", "sqlite")
    found: dict[str, list[str]] = {}
    outsider = make_context().new_page()  # logged out: the login page
    outsider.set_viewport_size({"width": size[0], "height": size[1]})
    outsider.goto("/#/login")
    outsider.wait_for_selector("form")
    _shoot(outsider, backend, size, "login")
    found["login"] = outsider.evaluate(FIND_PROBLEMS)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    for name, hash_ in pages.items():
        page.goto(f"/{hash_}")
        _settle(page)
        extra: list[str] = []
        if name in ("editor", "video-editor"):
            if name == "editor":
                extra = _editor_extras(page)
                rows = page.evaluate(VISIBLE_KEYPOINT_ROWS)
                wanted = 17 if size[1] >= 900 else 12
                if rows < wanted:
                    extra.append(f"only {rows} keypoint rows visible (want {wanted})")
            else:
                page.keyboard.press("n")
                rows = page.evaluate(VISIBLE_KEYPOINT_ROWS)
                if rows < 10:
                    extra.append(f"only {rows} keypoint rows visible in the video editor")
        if name in PAGE_CHECKS:
            extra += page.evaluate(PAGE_CHECKS[name])
        if name == "jobs":
            page.wait_for_selector(".jobs-form select[name='new-reviewer']")
            for role in ("Annotator", "Reviewer"):  # the create form's pickers say what they are
                if not page.get_by_role("combobox", name=role, exact=True).count():
                    extra.append(f"no combobox named {role}")
        _shoot(page, backend, size, name)
        found[name] = [*page.evaluate(FIND_PROBLEMS), *extra]
    bad = {name: problems for name, problems in found.items() if problems}
    assert not bad, "\n".join(f"{name}: {p}" for name, ps in bad.items() for p in ps)
