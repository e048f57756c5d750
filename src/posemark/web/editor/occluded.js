// @ts-check
/**
 * Proposed positions for hidden keypoints (POST /api/items/{iid}/estimate, which uses
 * assist/occluded.py: a pose prior fitted on COCO, the limb's bone ratios, left/right
 * symmetry).
 *
 * When the annotator marks a keypoint occluded (V), or presses E with a keypoint
 * selected (or about to be placed), the server proposes where it is from the rest of the
 * instance as it is on screen. The proposal is drawn as a dashed marker,
 * `.occluded-proposal[data-keypoint]`; Enter or a click on it accepts it (the keypoint
 * goes there, flagged occluded), Escape dismisses it (the editor page's Escape: one
 * thing at a time), and it goes by itself once the user moves on to another keypoint
 * or person. Accepting is one undoable edit; to fine-tune, drag the
 * keypoint afterwards.
 */

import { request } from "../api.js";
import { h, s, toolButton } from "../dom.js";
import { OCCLUDED, findInstance, nextUnlabeled, setKeypoint } from "./document.js";

const MARK_RADIUS = 9;
const MODEL_KEY = "posemark.occluded.withModel";

export class OccludedEstimator {
  /**
   * @param {{item: object, editor: object, renderer: object, view: object, chrome: object,
   *   panelRoot: HTMLElement}} parts
   */
  constructor({ item, editor, renderer, view, chrome, panelRoot }) {
    this.item = item;
    this.editor = editor;
    this.view = view;
    this.chrome = chrome;
    this.proposal = null; // {instanceId, index, keypoint, x, y, method}
    this.lastDoc = editor.doc;
    this.accepting = false;
    this.sequence = 0;
    this.layer = s("g", { class: "occluded-layer" });
    renderer.viewport.append(this.layer);
    this.status = h("span", { class: "muted occluded-status" }, "");
    this.acceptButton = toolButton("Accept", "Accept the proposed position (Enter)", () =>
      this.accept(),
    );
    this.acceptButton.hidden = true;
    this.withModel = h("input", {
      type: "checkbox",
      id: "estimate-with-model",
      checked: localStorage.getItem(MODEL_KEY) === "1",
      onChange: () => localStorage.setItem(MODEL_KEY, this.withModel.checked ? "1" : "0"),
    });
    panelRoot.append(
      h(
        "section",
        { class: "panel-section occluded-tools" },
        h(
          "div",
          { class: "section-head" },
          toolButton(
            "Estimate hidden",
            "Propose where the selected (or next) keypoint is, from the rest of the instance (E)",
            () => this.estimateSelected(),
            { class: "small", id: "estimate-keypoint" },
          ),
          h(
            "label",
            {
              class: "muted model-toggle",
              title: "Also ask the pose model (slower); its point wins where it is sure",
            },
            this.withModel,
            "model",
          ),
          this.acceptButton,
        ),
        this.status,
      ),
    );
  }

  /** The keypoint E acts on: the selected one, else the one about to be placed. */
  target() {
    const inst = this.editor.selectedInstance;
    if (!inst) return null;
    const { keypointIndex, placeIndex } = this.editor.selection;
    const index = keypointIndex !== null ? keypointIndex : placeIndex;
    return index === null ? null : { instanceId: inst.id, index };
  }

  estimateSelected() {
    const target = this.target();
    if (!target) {
      this.chrome.say("Select an instance and a keypoint to estimate (click it in the list).");
      return;
    }
    this.request(target.instanceId, target.index);
  }

  /**
   * Reacts to an edit: a keypoint just flagged occluded (V) gets a proposal; a proposal
   * whose keypoint changed or whose instance vanished is dropped.
   */
  documentChanged(change) {
    if (change.preview) return;
    const before = this.lastDoc;
    this.lastDoc = this.editor.doc;
    const p = this.proposal;
    if (p) {
      const inst = findInstance(this.editor.doc, p.instanceId);
      const was = before ? findInstance(before, p.instanceId) : null;
      const changed =
        !inst ||
        (was && JSON.stringify(was.keypoints[p.index]) !== JSON.stringify(inst.keypoints[p.index]));
      const { instanceId, keypointIndex, placeIndex } = this.editor.selection;
      const movedOn =
        instanceId !== p.instanceId || (keypointIndex !== p.index && placeIndex !== p.index);
      if (changed || movedOn) this.dismiss();
    }
    if (!change.docChanged || !before) return;
    const { instanceId, keypointIndex } = this.editor.selection;
    if (!instanceId || keypointIndex === null) return;
    const inst = findInstance(this.editor.doc, instanceId);
    const old = findInstance(before, instanceId);
    if (!inst || !old) return;
    const flagged =
      inst.keypoints[keypointIndex][2] === OCCLUDED && old.keypoints[keypointIndex][2] !== OCCLUDED;
    if (flagged && !this.accepting) this.request(instanceId, keypointIndex);
  }

  async request(instanceId, index) {
    const inst = findInstance(this.editor.doc, instanceId);
    if (!inst) return;
    const keypoint = this.editor.keypointNames[index];
    const sequence = ++this.sequence;
    this.status.textContent = `Estimating ${keypoint.replaceAll("_", " ")}…`;
    try {
      const answer = await request("POST", `/api/items/${this.item.id}/estimate`, {
        body: {
          instance_id: instanceId,
          keypoints: [keypoint],
          points: inst.keypoints,
          model: this.withModel.checked ? "default" : null,
        },
      });
      if (sequence !== this.sequence) return; // a newer request is on its way
      const found = answer.proposals.find((p) => p.keypoint === keypoint);
      if (!found) {
        this.dismiss(`No estimate for ${keypoint.replaceAll("_", " ")}: label more keypoints.`);
        return;
      }
      this.proposal = { instanceId, index, ...found };
      this.acceptButton.hidden = false;
      this.status.textContent =
        `Proposed ${keypoint.replaceAll("_", " ")} (${found.method}): ` +
        "Enter or click it accepts, Esc dismisses.";
      this.render();
    } catch (err) {
      if (sequence === this.sequence) this.dismiss(`No estimate: ${err.message}`);
    }
  }

  /** Puts the keypoint at the proposal, flagged occluded: one undoable edit. */
  accept() {
    const p = this.proposal;
    if (!p) return;
    const inst = findInstance(this.editor.doc, p.instanceId);
    if (!inst) {
      this.dismiss();
      return;
    }
    const doc = setKeypoint(this.editor.doc, p.instanceId, p.index, p.x, p.y, OCCLUDED);
    // placing goes on after the accepted keypoint; otherwise accepting arms no click
    const { placeIndex } = this.editor.selection;
    const nextPlace =
      placeIndex === p.index ? nextUnlabeled(findInstance(doc, p.instanceId), p.index) : placeIndex;
    this.proposal = null;
    this.accepting = true; // our own edit flags it occluded: no new proposal for it
    this.editor.commit(
      doc,
      {
        instanceId: p.instanceId,
        keypointIndex: p.index,
        placeIndex: nextPlace,
      },
      `Accepted the estimate for ${p.keypoint} (occluded)`,
    );
    this.accepting = false;
    this.dismiss();
  }

  get showing() {
    return this.proposal !== null;
  }

  dismiss(message = "") {
    this.proposal = null;
    this.acceptButton.hidden = true;
    this.status.textContent = message;
    this.render();
  }

  /** Draws the proposal; marker sizes are in screen pixels, like the keypoints. */
  render() {
    const p = this.proposal;
    if (!p) {
      this.layer.replaceChildren();
      return;
    }
    const scale = this.view.scale || 1;
    const r = MARK_RADIUS / scale;
    const mark = s(
      "g",
      {
        class: "occluded-proposal",
        "data-keypoint": p.keypoint,
        "data-instance-id": p.instanceId,
        "data-method": p.method,
        transform: `translate(${p.x} ${p.y})`,
      },
      s("title", { text: `Proposed ${p.keypoint} (${p.method}); click or Enter to accept` }),
      s("circle", { class: "proposal-ring", r }),
      s("line", { class: "proposal-cross", x1: -r, y1: 0, x2: r, y2: 0 }),
      s("line", { class: "proposal-cross", x1: 0, y1: -r, x2: 0, y2: r }),
    );
    mark.addEventListener("pointerdown", (event) => {
      event.stopPropagation();
      event.preventDefault();
      this.accept();
    });
    this.layer.replaceChildren(mark);
  }

  destroy() {}
}
