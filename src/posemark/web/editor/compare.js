// @ts-check
/**
 * Compare an earlier version of the item with the current one: what changed, listed in
 * the history panel, and drawn on the image under the current annotation.
 *
 * The server computes the changes (GET /api/items/{iid}/history/{v}/changes): people
 * added or removed, and per kept person the keypoints moved (with the distance in
 * pixels), labeled, unlabeled or switched between occluded and visible. On the image,
 * each moved keypoint's old place is a hollow grey ring joined to where it is now, and
 * a removed person's old keypoints are grey rings; a reviewer sees at a glance what an
 * annotator did about a return.
 *
 * Test hooks: `.version-changes[data-from][data-to]` with one `li.change` per change
 * (`data-change`, `data-keypoint`, `data-instance-id`), `g.version-ghost` with one
 * `.ghost-keypoint` per old position drawn, `button.hide-comparison`.
 */

import { request } from "../api.js";
import { h, mount, s, toolButton } from "../dom.js";

const RING_RADIUS = 5; // screen pixels, like the keypoint markers

function shortId(id) {
  return String(id).slice(0, 8);
}

function describe(change) {
  switch (change.change) {
    case "moved":
      return `${change.keypoint} moved ${change.distance.toFixed(1)} px`;
    case "labeled":
      return `${change.keypoint} labeled`;
    case "unlabeled":
      return `${change.keypoint} removed (not labeled)`;
    default:
      return `${change.keypoint} ${change.from[2] === 2 ? "visible" : "occluded"} → ${
        change.to[2] === 2 ? "visible" : "occluded"
      }`;
  }
}

export class VersionCompare {
  /**
   * @param {object} options
   * @param {number} options.itemId
   * @param {HTMLElement} options.root where the change list goes (the history section)
   * @param {{viewport: SVGGElement}} options.renderer
   * @param {{scale: number}} options.view
   * @param {string[]} options.keypoints the skeleton's keypoint names
   * @param {(text: string) => void} options.say
   */
  constructor({ itemId, root, renderer, view, keypoints, say }) {
    this.itemId = itemId;
    this.view = view;
    this.keypoints = keypoints;
    this.say = say;
    this.changes = null;
    this.layer = s("g", { class: "version-ghost" });
    renderer.viewport.append(this.layer);
    this.list = h("div", { class: "version-changes", hidden: true });
    root.append(this.list);
  }

  async show(version) {
    let changes;
    try {
      changes = await request("GET", `/api/items/${this.itemId}/history/${version}/changes`);
    } catch (err) {
      this.say(`Changes could not be loaded: ${err.message}`);
      return;
    }
    this.changes = changes;
    this.renderList();
    this.render();
  }

  hide() {
    this.changes = null;
    this.list.hidden = true;
    this.layer.replaceChildren();
  }

  renderList() {
    const c = this.changes;
    const rows = [];
    for (const id of c.removed)
      rows.push(h("li", { class: "change", "data-change": "removed", "data-instance-id": id },
        `person ${shortId(id)} removed`));
    for (const id of c.added)
      rows.push(h("li", { class: "change", "data-change": "added", "data-instance-id": id },
        `person ${shortId(id)} added`));
    for (const inst of c.changed) {
      for (const field of inst.fields)
        rows.push(h("li", { class: "change", "data-change": field, "data-instance-id": inst.instance_id },
          `person ${shortId(inst.instance_id)}: ${field} changed`));
      for (const kp of inst.keypoints)
        rows.push(
          h(
            "li",
            {
              class: "change",
              "data-change": kp.change,
              "data-keypoint": kp.keypoint,
              "data-instance-id": inst.instance_id,
            },
            `person ${shortId(inst.instance_id)}: ${describe(kp)}`,
          ),
        );
    }
    this.list.dataset.from = c.from;
    this.list.dataset.to = c.to;
    mount(
      this.list,
      h(
        "div",
        { class: "section-head" },
        h("strong", {}, `v${c.from} → v${c.to}`),
        toolButton("Hide", "Stop comparing", () => this.hide(), {
          class: "small hide-comparison",
        }),
      ),
      rows.length
        ? h("ol", { class: "change-list" }, ...rows)
        : h("p", { class: "muted" }, "No change to the keypoints."),
      c.unchanged ? h("p", { class: "muted" }, `${c.unchanged} person(s) unchanged`) : null,
    );
    this.list.hidden = false;
  }

  /** Draws the old places; call again when the zoom changes (sizes are on screen). */
  render() {
    const c = this.changes;
    if (!c) return;
    const r = RING_RADIUS / (this.view.scale || 1);
    const marks = [];
    const ring = (x, y, instanceId, keypoint) =>
      s("circle", {
        class: "ghost-keypoint",
        cx: x,
        cy: y,
        r,
        "data-instance-id": instanceId,
        "data-keypoint": keypoint,
      });
    const old = new Map((c.from_annotation.instances || []).map((i) => [String(i.id), i]));
    for (const id of c.removed) {
      const inst = old.get(String(id));
      (inst ? inst.keypoints : []).forEach(([x, y, v], i) => {
        if (v > 0 && x !== null) marks.push(ring(x, y, id, this.keypoints[i]));
      });
    }
    for (const inst of c.changed)
      for (const kp of inst.keypoints) {
        const [x0, y0, v0] = kp.from;
        if (!v0) continue;
        if (kp.change === "moved")
          marks.push(s("line", { class: "ghost-move", x1: x0, y1: y0, x2: kp.to[0], y2: kp.to[1] }));
        marks.push(ring(x0, y0, inst.instance_id, kp.keypoint));
      }
    this.layer.replaceChildren(...marks);
  }
}
