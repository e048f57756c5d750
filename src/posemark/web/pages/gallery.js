// @ts-check
/**
 * The keypoint gallery (#/projects/{pid}/gallery[?keypoint=name]): one keypoint type
 * across every instance the user may see, as crops centred on it at the same body scale,
 * riskiest first (QA findings on that keypoint, then on the instance, then the model's
 * doubt). A reviewer marks wrong ones with a click on "Wrong" or the W key: each mark is
 * a review comment on that keypoint, and the item goes back to its annotator.
 *
 * It stays fast with thousands of instances: entries come in pages as the grid scrolls
 * (an IntersectionObserver on the last row), crops are made and cached by the server and
 * loaded lazily by the browser. Keys: arrows or H/J/K/L move, W (or X) marks the focused
 * crop wrong, Enter (or O) opens its item in the editor. Frames of a video track can be
 * opened as a strip, one crop per frame.
 *
 * Test hooks: cells are `.gallery-cell` with data-item-id, data-instance-id,
 * data-keypoint and data-marked.
 */

import { request } from "../api.js";
import { h, mount, plural } from "../dom.js";

const PAGE = 60;
const CROP = 128;

export async function galleryPage(root, { pid, keypoint }, app) {
  const project = await request("GET", `/api/projects/${pid}`);
  const names = project.skeleton.keypoints;
  const chosen = names.includes(keypoint) ? keypoint : names[0];
  app.setCrumbs([
    { label: "Projects", href: "#/projects" },
    { label: project.name, href: `#/projects/${pid}` },
    { label: "Keypoint gallery" },
  ]);
  // next: the server's cursor of the page after the last one loaded (null: no more)
  const state = { entries: [], total: null, next: undefined, loading: false, focus: 0, sequence: 0 };
  const grid = h("ul", { class: "gallery-grid", "aria-label": "Keypoint crops" });
  const sentinel = h("div", { class: "gallery-sentinel", "aria-hidden": "true" });
  const counter = h("span", { class: "muted gallery-count" });
  const message = h("div", { class: "gallery-message", role: "status", "aria-live": "polite" });
  const strip = h("div", { class: "track-strip-box", hidden: true });
  const picker = h(
    "select",
    {
      id: "gallery-keypoint",
      "aria-label": "Keypoint",
      onChange: (e) =>
        app.navigate(`#/projects/${pid}/gallery?keypoint=${encodeURIComponent(e.target.value)}`),
    },
    names.map((n) => h("option", { value: n, selected: n === chosen }, n.replaceAll("_", " "))),
  );

  function cell(entry, index) {
    const wrong = h(
      "button",
      {
        type: "button",
        class: "tool small danger mark-wrong",
        title: "Mark this keypoint wrong: a comment on it, and the item back to its annotator (W)",
        onClick: (event) => {
          event.stopPropagation();
          markWrong(index);
        },
      },
      "Wrong",
    );
    const track =
      entry.video_id !== null && entry.track_id !== null
        ? h(
            "button",
            {
              type: "button",
              class: "tool small ghost",
              title: "This track's frames as a strip",
              onClick: (event) => {
                event.stopPropagation();
                showTrack(entry);
              },
            },
            "track",
          )
        : null;
    return h(
      "li",
      {
        class: "gallery-cell",
        tabindex: "-1",
        "data-item-id": entry.item_id,
        "data-instance-id": entry.instance_id,
        "data-keypoint": entry.keypoint,
        "data-marked": "false",
        "data-risk": entry.risk,
        title: entry.findings.length ? entry.findings.join("\n") : `${entry.file_name}`,
        onClick: () => setFocus(index),
        onDblclick: () => app.navigate(`#/items/${entry.item_id}`),
      },
      h("img", {
        src: entry.crop_url,
        alt: `${entry.keypoint} of ${entry.instance_id} in ${entry.file_name}`,
        width: CROP,
        height: CROP,
        loading: "lazy",
        decoding: "async",
      }),
      h(
        "div",
        { class: "cell-foot" },
        entry.risk > 0
          ? h(
              "span",
              {
                class: "risk",
                title:
                  `Risk ${entry.risk.toFixed(3)}: from QA findings on this keypoint and this ` +
                  "person and the model's doubt; the riskiest are shown first",
              },
              "⚠ check first",
            )
          : null,
        entry.v === 1 ? h("span", { class: "chip" }, "occluded") : null,
        track,
        wrong,
      ),
    );
  }

  async function loadMore() {
    if (state.loading || state.next === null) return;
    state.loading = true;
    const sequence = state.sequence;
    // each page after the first starts at the cursor the one before gave: a range of the
    // server's index however far the list has been scrolled
    const at = state.next === undefined ? {} : { after: state.next };
    try {
      const answer = await request("GET", `/api/projects/${pid}/gallery`, {
        query: { keypoint: chosen, limit: PAGE, size: CROP, ...at },
      });
      if (sequence !== state.sequence) return;
      const start = state.entries.length;
      state.total = answer.total;
      state.next = answer.next;
      state.entries.push(...answer.entries);
      grid.append(...answer.entries.map((entry, i) => cell(entry, start + i)));
      counter.textContent =
        `${plural(answer.total, "instance")} with ${chosen.replaceAll("_", " ")} labeled` +
        (answer.total ? ", riskiest first" : "");
      if (!answer.total) grid.append(h("li", { class: "empty-state" }, "Nothing to show."));
      if (start === 0 && answer.entries.length) setFocus(0);
    } catch (err) {
      message.textContent = err.message;
    } finally {
      state.loading = false;
    }
    // a tall screen may show the sentinel again at once
    if (sentinelVisible()) loadMore();
  }

  function sentinelVisible() {
    const box = sentinel.getBoundingClientRect();
    return box.top < window.innerHeight + 200 && state.next !== null && state.total !== null;
  }

  function cells() {
    return grid.querySelectorAll(".gallery-cell");
  }

  function setFocus(index) {
    const all = cells();
    if (!all.length) return;
    state.focus = Math.max(0, Math.min(index, all.length - 1));
    for (const c of all) c.classList.remove("focused");
    const el = all[state.focus];
    el.classList.add("focused");
    el.focus({ preventScroll: true });
    el.scrollIntoView({ block: "nearest" });
  }

  async function markWrong(index) {
    const entry = state.entries[index];
    const el = cells()[index];
    if (!entry || !el || el.dataset.marked === "true") return;
    el.dataset.marked = "pending";
    try {
      const answer = await request("POST", `/api/items/${entry.item_id}/review/mark`, {
        body: { instance_id: entry.instance_id, keypoint: entry.keypoint },
      });
      el.dataset.marked = "true";
      el.classList.add("marked");
      message.textContent =
        `Marked ${entry.keypoint.replaceAll("_", " ")} of ${entry.instance_id} in ` +
        `${entry.file_name} wrong; the item is ${answer.status}.`;
    } catch (err) {
      el.dataset.marked = "false";
      message.textContent = `Not marked: ${err.message}`;
    }
  }

  async function showTrack(entry) {
    const answer = await request("GET", `/api/projects/${pid}/gallery/track`, {
      query: { video_id: entry.video_id, track_id: entry.track_id, keypoint: chosen },
    });
    strip.hidden = false;
    mount(
      strip,
      h("h2", {}, `Track ${entry.track_id}: ${plural(answer.frames.length, "frame")}`),
      h(
        "ol",
        { class: "track-strip" },
        answer.frames.map((f) =>
          h(
            "li",
            { "data-frame-index": f.frame_index },
            h("img", { src: f.crop_url, width: 96, height: 96, loading: "lazy", alt: "" }),
            h("a", { href: `#/items/${f.item_id}` }, `frame ${f.frame_index}`),
          ),
        ),
      ),
    );
  }

  function columns() {
    const all = cells();
    if (all.length < 2) return 1;
    const top = all[0].offsetTop;
    let n = 0;
    while (n < all.length && all[n].offsetTop === top) n++;
    return Math.max(1, n);
  }

  const onKey = (event) => {
    if (event.target.closest && event.target.closest("input, textarea, select")) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.toLowerCase();
    const moves = {
      arrowright: 1,
      l: 1,
      arrowleft: -1,
      h: -1,
      arrowdown: columns(),
      j: columns(),
      arrowup: -columns(),
      k: -columns(),
    };
    if (key in moves) {
      event.preventDefault();
      setFocus(state.focus + moves[key]);
      if (state.focus >= state.entries.length - columns() * 2) loadMore();
    } else if (key === "w" || key === "x") {
      event.preventDefault();
      markWrong(state.focus);
    } else if (key === "enter" || key === "o") {
      const entry = state.entries[state.focus];
      if (entry) app.navigate(`#/items/${entry.item_id}`);
    }
  };
  window.addEventListener("keydown", onKey);
  const observer = new IntersectionObserver(
    (seen) => {
      if (seen.some((e) => e.isIntersecting)) loadMore();
    },
    { rootMargin: "400px" },
  );

  root.append(
    h(
      "div",
      { class: "page gallery-page", "data-keypoint": chosen },
      h(
        "div",
        { class: "page-head" },
        h("div", {}, h("h1", {}, "Keypoint gallery"), counter),
        h(
          "div",
          { class: "head-actions" },
          h("label", { for: "gallery-keypoint", class: "muted" }, "Keypoint"),
          picker,
        ),
      ),
      h(
        "p",
        { class: "muted" },
        "Arrows move · W marks wrong (a comment on the keypoint; the item returns to its " +
          "annotator) · Enter opens the item",
      ),
      message,
      strip,
      grid,
      sentinel,
    ),
  );
  observer.observe(sentinel);
  await loadMore();
  return {
    destroy() {
      state.sequence++;
      observer.disconnect();
      window.removeEventListener("keydown", onKey);
    },
  };
}
