// @ts-check
/**
 * Comments in the editor: a list in the side panel and a marker on the stage where each
 * open comment points (its keypoint, else its instance, else nothing: item comments are
 * only listed).
 *
 * A new comment is pinned to what is selected: the selected keypoint of the selected
 * instance, else the selected instance, else the whole item. Whoever sees the item can
 * resolve a comment (the annotator does, as they fix); resolved ones stay listed,
 * struck through, and lose their marker.
 *
 * Test hooks: each marker is a `<g class="comment-marker">` with data-comment-id,
 * data-instance-id and data-keypoint ("" for an instance), translated to the point it
 * marks; each list entry is an `li.comment` with data-comment-id and data-resolved.
 */

import { request } from "../api.js";
import { h, mount, s, toolButton } from "../dom.js";
import { NOT_LABELED } from "./document.js";

const MARKER_SIZE = 9;

export class CommentsPanel {
  /**
   * @param {HTMLElement} root where the panel section goes
   * @param {object} options
   * @param {number} options.itemId
   * @param {import("./controller.js").AnnotationEditor} options.editor
   * @param {(text: string) => void} options.say the status bar
   * @param {(comments: object[]) => void} options.onChange called with the new list
   */
  constructor(root, { itemId, editor, say, onChange }) {
    this.itemId = itemId;
    this.editor = editor;
    this.say = say;
    this.onChange = onChange;
    this.comments = [];
    this.list = h("ul", { class: "comment-list", "aria-label": "Comments" });
    this.text = h("textarea", {
      class: "comment-text",
      rows: 2,
      placeholder: "What should change here?",
      "aria-label": "New comment",
    });
    this.target = h("div", { class: "comment-target muted" });
    const add = toolButton("Comment", "Add the comment where it points", () => this.add(), {
      class: "small primary comment-add",
    });
    this.section = h(
      "section",
      { class: "panel-section comments" },
      h("div", { class: "section-head" }, h("h2", {}, "Comments")),
      this.list,
      this.target,
      this.text,
      h("div", { class: "comment-actions" }, add),
    );
    root.append(this.section);
  }

  get open() {
    return this.comments.filter((c) => !c.resolved).length;
  }

  /** Where a new comment would point right now, from the editor's selection. */
  pin() {
    const inst = this.editor.selectedInstance;
    if (!inst) return { instance_id: null, keypoint: null };
    const k = this.editor.selection.keypointIndex;
    const keypoint = k === null || k === undefined ? null : this.editor.keypointNames[k];
    return { instance_id: inst.id, keypoint };
  }

  /** Shows where a new comment would go (called on every render). */
  renderTarget() {
    const { instance_id: inst, keypoint } = this.pin();
    this.target.textContent = inst
      ? `On ${keypoint ? `${keypoint.replaceAll("_", " ")} of ` : ""}${inst}`
      : "On the whole item (select an instance or keypoint to pin it there)";
  }

  async refresh() {
    try {
      this.comments = await request("GET", `/api/items/${this.itemId}/comments`);
    } catch (err) {
      this.say(`Comments could not be loaded: ${err.message}`);
      return;
    }
    this.renderList();
    this.onChange(this.comments);
  }

  async add() {
    const text = this.text.value.trim();
    if (!text) {
      this.say("Write the comment first.");
      this.text.focus();
      return;
    }
    try {
      await request("POST", `/api/items/${this.itemId}/comments`, {
        body: { text, ...this.pin() },
      });
    } catch (err) {
      this.say(`Comment not added: ${err.message}`);
      return;
    }
    this.text.value = "";
    this.say("Comment added.");
    await this.refresh();
  }

  async setResolved(comment, resolved) {
    try {
      await request("PATCH", `/api/comments/${comment.id}`, { body: { resolved } });
    } catch (err) {
      this.say(`Comment not changed: ${err.message}`);
      return;
    }
    await this.refresh();
  }

  /** Selects what the comment points at, so the user sees it on the stage. */
  focus(comment) {
    if (!comment.instance_id) return;
    const names = this.editor.keypointNames;
    const k = comment.keypoint ? names.indexOf(comment.keypoint) : -1;
    this.editor.selectInstance(comment.instance_id);
    if (k >= 0 && this.editor.selectKeypoint) this.editor.selectKeypoint(comment.instance_id, k);
  }

  renderList() {
    mount(
      this.list,
      this.comments.length
        ? this.comments.map((c) => this.entry(c))
        : h("li", { class: "empty" }, "No comments."),
    );
  }

  entry(c) {
    const where = c.instance_id
      ? `${c.keypoint ? `${c.keypoint.replaceAll("_", " ")} of ` : ""}${c.instance_id}`
      : "whole item";
    const who = c.author ? c.author.username : "someone";
    return h(
      "li",
      {
        class: `comment${c.resolved ? " resolved" : ""}`,
        "data-comment-id": c.id,
        "data-resolved": String(c.resolved),
      },
      h(
        "button",
        { type: "button", class: "comment-where link", onClick: () => this.focus(c) },
        where,
      ),
      h("p", { class: "comment-body" }, c.text),
      h(
        "div",
        { class: "comment-meta muted" },
        `${who} · ${new Date(c.created_at).toLocaleString()}`,
        toolButton(
          c.resolved ? "Reopen" : "Resolve",
          c.resolved ? "Open the comment again" : "Mark the comment resolved",
          () => this.setResolved(c, !c.resolved),
          { class: "small comment-resolve" },
        ),
      ),
    );
  }
}

/** Where a comment points on the stage: its keypoint when labeled, else its instance. */
function anchor(inst, names, comment) {
  if (comment.keypoint) {
    const kp = inst.keypoints[names.indexOf(comment.keypoint)];
    if (kp && kp[2] !== NOT_LABELED) return [kp[0], kp[1]];
  }
  if (inst.bbox) return [inst.bbox[0], inst.bbox[1]];
  const first = inst.keypoints.find((kp) => kp[2] !== NOT_LABELED);
  return first ? [first[0], first[1]] : null;
}

/** An SVG group with one speech-bubble marker per open comment on an instance or keypoint. */
export function commentMarkers(doc, names, comments, scale) {
  const byId = new Map(doc.instances.map((inst) => [inst.id, inst]));
  const group = s("g", { class: "comments" });
  const size = MARKER_SIZE / scale;
  for (const c of comments) {
    if (c.resolved || !c.instance_id) continue;
    const inst = byId.get(c.instance_id);
    if (!inst) continue;
    const at = anchor(inst, names, c);
    if (!at) continue;
    group.append(
      s(
        "g",
        {
          class: "comment-marker",
          "data-comment-id": c.id,
          "data-instance-id": c.instance_id,
          "data-keypoint": c.keypoint || "",
          transform: `translate(${at[0]} ${at[1]})`,
        },
        s("title", { text: c.text }),
        // a bubble up and to the right of the point, its tail on the point itself
        s("path", {
          class: "comment-bubble",
          d: `M0 0 L${size * 0.6} ${-size * 0.9} H${size * 2.2} V${-size * 2.4} H${size * 0.2} V${-size * 0.9} Z`,
        }),
      ),
    );
  }
  return group;
}
