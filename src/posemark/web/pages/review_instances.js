// @ts-check
/**
 * Instance review (#/projects/{pid}/review): a keyboard-only pass over the instances of
 * the items waiting for review, riskiest first, each shown zoomed (a server crop of the
 * person with their skeleton) beside its QA findings.
 *
 * Keys, and a button for each: A accepts the instance (when every instance of an item is
 * accepted, the item is accepted), R returns it (type what to fix, Enter sends: a comment
 * on the instance and the item back to its annotator), F fixes it in place (opens the
 * item in the editor), J / → next, K / ← previous. The crop draws the skeleton in the
 * editor's side colours (left blue, right orange), so a mirrored person stands out.
 *
 * An instance on a video frame with a track also shows its track as a strip: one whole-
 * instance crop per frame (lazy-loaded), the frame under review marked, each crop a link
 * that opens its frame in the editor, so a reviewer sees the person move before deciding.
 *
 * Test hooks: `.review-instance` with data-item-id, data-instance-id and data-state
 * ("open", "accepted", "returned"); buttons `.review-actions button[data-action]`
 * (accept, return, fix, previous, next); `.track-strip[data-track-id]` with one
 * `[data-frame]` per frame, the current one `aria-current="true"`.
 */

import { request } from "../api.js";
import { h, mount, toolButton } from "../dom.js";
import { SIDE_COLORS } from "../editor/colors.js";

const PAGE = 50;
const STRIP_CROP = 96;

export async function reviewInstancesPage(root, { pid }, app) {
  const project = await request("GET", `/api/projects/${pid}`);
  app.setCrumbs([
    { label: "Projects", href: "#/projects" },
    { label: project.name, href: `#/projects/${pid}` },
    { label: "Instance review" },
  ]);
  // next: the server's cursor of the page after the last one loaded (null: no more)
  const state = { entries: [], total: 0, next: undefined, at: 0, decided: new Map(), returning: false };
  const view = h("div", { class: "review-instance", "data-state": "open" });
  const message = h("div", { class: "review-message", role: "status", "aria-live": "polite" });
  const reason = h("input", {
    class: "return-reason",
    placeholder: "What should the annotator fix? (Enter sends, Esc cancels)",
    "aria-label": "Why this instance is returned",
    hidden: true,
  });

  async function load() {
    if (state.next === null) return;
    const at = state.next === undefined ? {} : { after: state.next };
    const answer = await request("GET", `/api/projects/${pid}/review/instances`, {
      query: { limit: PAGE, ...at },
    });
    state.total = answer.total;
    state.next = answer.next;
    state.entries.push(...answer.entries);
  }

  const key = (e) => `${e.item_id}/${e.instance_id}`;

  const trackBox = h("div", { class: "review-track", hidden: true });
  const strips = new Map(); // "video/track" -> frames, fetched once per page visit

  /** The track's strip under the instance; a step made while it loads wins. */
  async function showTrack(entry) {
    trackBox.hidden = true;
    mount(trackBox);
    if (!entry || entry.video_id === null || entry.track_id === null) return;
    const id = `${entry.video_id}/${entry.track_id}`;
    let frames = strips.get(id);
    if (!frames) {
      try {
        const answer = await request("GET", `/api/projects/${pid}/gallery/track`, {
          query: { video_id: entry.video_id, track_id: entry.track_id, size: STRIP_CROP },
        });
        frames = answer.frames;
        strips.set(id, frames);
      } catch (err) {
        message.textContent = `Track ${entry.track_id} not shown: ${err.message}`;
        return;
      }
    }
    if (state.entries[state.at] !== entry) return;
    const plural = frames.length !== 1;
    trackBox.hidden = false;
    mount(
      trackBox,
      h("h2", {}, `Track ${entry.track_id}: ${frames.length} frame${plural ? "s" : ""}`),
      h(
        "ol",
        { class: "track-strip", "data-track-id": entry.track_id },
        frames.map((f) => {
          const current = f.item_id === entry.item_id && f.instance_id === entry.instance_id;
          return h(
            "li",
            { "data-frame": f.frame_index, "aria-current": current ? "true" : null },
            h(
              "a",
              { href: `#/items/${f.item_id}`, title: `Open frame ${f.frame_index} in the editor` },
              h("img", {
                src: f.crop_url,
                width: STRIP_CROP,
                height: STRIP_CROP,
                loading: "lazy",
                alt: `Frame ${f.frame_index}`,
              }),
              h("span", {}, `frame ${f.frame_index}`),
            ),
          );
        }),
      ),
    );
    const here = trackBox.querySelector('[aria-current="true"]');
    if (here) here.scrollIntoView({ block: "nearest", inline: "center" });
  }

  function show() {
    const entry = state.entries[state.at];
    showTrack(entry);
    if (!entry) {
      view.dataset.state = "done";
      delete view.dataset.itemId;
      delete view.dataset.instanceId;
      mount(view, h("p", { class: "empty-state" }, "No instances are waiting for review."));
      return;
    }
    const decided = state.decided.get(key(entry)) || "open";
    view.dataset.itemId = entry.item_id;
    view.dataset.instanceId = entry.instance_id;
    view.dataset.state = decided;
    mount(
      view,
      h("img", {
        class: "review-crop",
        src: entry.crop_url,
        width: 384,
        height: 384,
        alt: `Instance ${entry.instance_id} of ${entry.file_name}`,
      }),
      h(
        "div",
        { class: "review-side" },
        h("h2", {}, `Instance ${entry.instance_id}`),
        h(
          "p",
          { class: "muted" },
          `${entry.file_name} · ${entry.status} · ${entry.labeled} keypoints labeled · ` +
            `${state.at + 1} of ${state.total}`,
        ),
        decided !== "open" ? h("p", { class: `decision ${decided}` }, decided) : null,
        entry.findings.length
          ? h(
              "ul",
              { class: "review-findings" },
              entry.findings.map((f) => h("li", {}, f)),
            )
          : h("p", { class: "muted" }, "No QA findings."),
        h(
          "p",
          { class: "side-legend muted" },
          "Skeleton: ",
          h("span", { class: "side-swatch", style: `background: ${SIDE_COLORS.left}` }),
          " left · ",
          h("span", { class: "side-swatch", style: `background: ${SIDE_COLORS.right}` }),
          " right (the person's own sides)",
        ),
        actions(decided),
        reason,
      ),
    );
  }

  /** The keys as buttons, for those who review with the mouse. */
  function actions(decided) {
    const button = (action, label, title, run, attrs = {}) =>
      toolButton(label, title, run, { "data-action": action, ...attrs });
    return h(
      "div",
      { class: "review-actions", role: "group", "aria-label": "Decide" },
      button("previous", "‹ Previous", "Previous instance (K or ←)", () => step(-1), {
        disabled: state.at === 0,
      }),
      button("accept", "Accept", "Accept this instance (A)", () => accept(), {
        class: "primary",
        disabled: decided === "returned",
      }),
      button("return", "Return…", "Return the item: say what to fix (R)", () => startReturn()),
      button("fix", "Fix in place", "Open the item in the editor (F)", () => fixInPlace()),
      button("next", "Next ›", "Next instance (J or →)", () => step(1)),
    );
  }

  async function step(delta) {
    const next = state.at + delta;
    if (next < 0) return;
    if (next >= state.entries.length && state.next !== null) await load();
    state.at = Math.min(next, state.entries.length);
    show();
  }

  async function accept() {
    const entry = state.entries[state.at];
    if (!entry || state.decided.get(key(entry)) === "returned") return;
    state.decided.set(key(entry), "accepted");
    const siblings = state.entries.filter((e) => e.item_id === entry.item_id);
    const allSeen = siblings.length === entry.instances_in_item;
    const allAccepted = allSeen && siblings.every((e) => state.decided.get(key(e)) === "accepted");
    if (allAccepted) {
      try {
        const answer = await request("POST", `/api/items/${entry.item_id}/review/accept`);
        message.textContent =
          `${entry.file_name}: every instance accepted; the item is ${answer.status}.`;
      } catch (err) {
        message.textContent = `Not accepted: ${err.message}`;
        state.decided.delete(key(entry));
        show();
        return;
      }
    } else {
      message.textContent = `Instance ${entry.instance_id} accepted.`;
    }
    await step(1);
  }

  function startReturn() {
    const entry = state.entries[state.at];
    if (!entry) return;
    state.returning = true;
    reason.hidden = false;
    reason.value = "";
    reason.focus();
  }

  async function sendReturn() {
    const entry = state.entries[state.at];
    state.returning = false;
    reason.hidden = true;
    try {
      const answer = await request("POST", `/api/items/${entry.item_id}/review/mark`, {
        body: { instance_id: entry.instance_id, text: reason.value.trim() || null },
      });
      for (const e of state.entries) {
        if (e.item_id === entry.item_id) state.decided.set(key(e), "returned");
      }
      message.textContent = `${entry.file_name} returned (${answer.status}).`;
      await step(1);
    } catch (err) {
      message.textContent = `Not returned: ${err.message}`;
      show();
    }
  }

  /** Opens the item in the editor, claimed for review first so the reviewer may edit it. */
  async function fixInPlace() {
    const entry = state.entries[state.at];
    if (!entry) return;
    if (entry.status === "submitted") {
      try {
        await request("POST", `/api/items/${entry.item_id}/status`, {
          body: { status: "in_review" },
        });
      } catch (err) {
        message.textContent = `Not claimed for review: ${err.message}`;
        return;
      }
    }
    app.navigate(`#/items/${entry.item_id}`);
  }

  reason.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      sendReturn();
    } else if (event.key === "Escape") {
      state.returning = false;
      reason.hidden = true;
      message.textContent = "Return cancelled.";
    }
    event.stopPropagation();
  });

  const onKey = (event) => {
    if (state.returning || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest && event.target.closest("input, textarea, select")) return;
    const k = event.key.toLowerCase();
    const actions = {
      a: accept,
      r: startReturn,
      f: () => fixInPlace(),
      j: () => step(1),
      arrowright: () => step(1),
      k: () => step(-1),
      arrowleft: () => step(-1),
    };
    if (actions[k]) {
      event.preventDefault();
      actions[k]();
    }
  };
  window.addEventListener("keydown", onKey);

  root.append(
    h(
      "div",
      { class: "page review-page" },
      h("div", { class: "page-head" }, h("h1", {}, "Instance review")),
      message,
      view,
      trackBox,
    ),
  );
  await load();
  show();
  return { destroy: () => window.removeEventListener("keydown", onKey) };
}
