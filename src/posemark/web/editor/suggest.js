// @ts-check
/**
 * Model suggestions in the editor: the "Suggest" and "Suggest in box" tools, the score
 * threshold, and the document rules for predictions (docs/server-contract.md, "Model
 * suggestions").
 *
 * A prediction is an instance with `confirmed: false` (its `source` is "model") and a
 * per-keypoint `scores` list. The annotator confirms it whole (C), which sets
 * `confirmed: true` and keeps `source: "model"` (the provenance stays true). Touching one
 * keypoint of a prediction (moving, placing or re-flagging it) confirms that keypoint
 * alone: its score becomes null, which means "a person set this one". So an export or a
 * reviewer can tell the keypoints a person vouched for from those the model guessed.
 *
 * The functions on documents are pure (like document.js); the tool class talks to the
 * server and the page.
 */

import { ApiError, request } from "../api.js";
import { h, toolButton } from "../dom.js";
import { addInstance, cloneDocument, findInstance } from "./document.js";

export const DEFAULT_MIN_SCORE = 0.3;
const MIN_SCORE_KEY = "posemark.suggest.minScore";
/** A whole-image suggestion overlapping an instance this much is someone already there. */
const SAME_PERSON_IOU = 0.6;

/** True when a person vouched for keypoint k (a confirmed instance, or a touched keypoint). */
export function keypointConfirmed(inst, k) {
  if (inst.confirmed) return true;
  return Array.isArray(inst.scores) && inst.scores[k] === null;
}

/** The model's score of keypoint k, or null (no scores, or confirmed by a person). */
export function keypointScore(inst, k) {
  const score = Array.isArray(inst.scores) ? inst.scores[k] : null;
  return typeof score === "number" ? score : null;
}

/** The whole instance confirmed by the annotator; its source stays what it was. */
export function confirmInstance(doc, instanceId) {
  const inst = findInstance(doc, instanceId);
  if (!inst || inst.confirmed) return doc;
  const out = cloneDocument(doc);
  findInstance(out, instanceId).confirmed = true;
  return out;
}

/** Keypoint k of an unconfirmed prediction marked as set by a person (score null). */
export function confirmKeypoint(doc, instanceId, k) {
  const inst = findInstance(doc, instanceId);
  if (!inst || inst.confirmed || !Array.isArray(inst.scores) || inst.scores[k] === null)
    return doc;
  const out = cloneDocument(doc);
  findInstance(out, instanceId).scores[k] = null;
  return out;
}

function iou(a, b) {
  if (!a || !b) return 0;
  const x0 = Math.max(a[0], b[0]);
  const y0 = Math.max(a[1], b[1]);
  const x1 = Math.min(a[0] + a[2], b[0] + b[2]);
  const y1 = Math.min(a[1] + a[3], b[1] + b[3]);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  const union = a[2] * a[3] + b[2] * b[3] - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Adds suggested instances under free ids (m1, m2, ...). With `skipKnown`, a suggestion
 * whose box overlaps an instance already in the item is left out (pressing Suggest twice
 * must not double everyone). Returns `{doc, added: [ids], skipped}`.
 */
export function withSuggestions(doc, instances, { skipKnown = false } = {}) {
  let out = doc;
  const added = [];
  let skipped = 0;
  const taken = new Set(doc.instances.map((inst) => inst.id));
  let n = 1;
  for (const suggestion of instances) {
    if (skipKnown && out.instances.some((inst) => iou(inst.bbox, suggestion.bbox) >= SAME_PERSON_IOU)) {
      skipped++;
      continue;
    }
    while (taken.has(`m${n}`)) n++;
    const id = `m${n}`;
    taken.add(id);
    out = addInstance(out, { ...suggestion, id });
    added.push(id);
  }
  return { doc: out, added, skipped };
}

function storedMinScore() {
  try {
    const value = Number.parseFloat(window.localStorage.getItem(MIN_SCORE_KEY));
    return Number.isFinite(value) && value >= 0 && value <= 1 ? value : DEFAULT_MIN_SCORE;
  } catch {
    return DEFAULT_MIN_SCORE;
  }
}

/**
 * The toolbar group (Suggest, Suggest in box, threshold) and what its buttons do.
 * The editor root carries `data-suggest-state` ("idle" or "busy") for tests and styling.
 */
export class SuggestTool {
  /**
   * @param {object} deps
   * @param {{id: number}} deps.item
   * @param {import("./controller.js").AnnotationEditor} deps.editor
   * @param {import("./chrome.js").EditorChrome} deps.chrome
   * @param {import("./pointer.js").PointerInput} deps.pointer
   */
  constructor({ item, editor, chrome, pointer }) {
    this.item = item;
    this.editor = editor;
    this.chrome = chrome;
    this.pointer = pointer;
    this.busy = false;
    this.suggestButton = toolButton(
      "Suggest",
      "Ask the pose model for everyone in the image",
      () => this.suggestWhole(),
      { id: "suggest-whole" },
    );
    this.boxButton = toolButton(
      "Suggest in box",
      "Draw a box around one person; the model suggests that person's keypoints",
      () => this.armBox(),
      { id: "suggest-box" },
    );
    this.threshold = h("input", {
      type: "number",
      id: "suggest-min-score",
      class: "score-input",
      min: 0,
      max: 1,
      step: 0.05,
      value: String(storedMinScore()),
      title: "Keypoints the model scores below this arrive not labeled",
      "aria-label": "Minimum keypoint score",
    });
    this.threshold.addEventListener("change", () => {
      try {
        window.localStorage.setItem(MIN_SCORE_KEY, String(this.minScore));
      } catch {
        // private mode: the value still applies to this page
      }
    });
    this.group = h(
      "div",
      { class: "tool-group suggest-tools", role: "group", "aria-label": "Model suggestions" },
      this.suggestButton,
      this.boxButton,
      h("label", { class: "score-label", for: "suggest-min-score" }, "min score"),
      this.threshold,
    );
    chrome.addToolGroup(this.group);
    this.setBusy(false);
  }

  get minScore() {
    const value = Number.parseFloat(this.threshold.value);
    return Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : DEFAULT_MIN_SCORE;
  }

  setBusy(busy) {
    this.busy = busy;
    this.chrome.root.dataset.suggestState = busy ? "busy" : "idle";
    this.suggestButton.disabled = busy;
    this.boxButton.disabled = busy;
  }

  suggestWhole() {
    return this.run(null);
  }

  armBox() {
    if (this.busy) return;
    this.pointer.armBox(true, (box) => this.run(box));
    this.chrome.say("Drag a box around one person; the model suggests their keypoints (Escape cancels).");
  }

  async run(box) {
    if (this.busy) return;
    this.setBusy(true);
    this.chrome.say(box ? "Asking the model about the person in the box…" : "Asking the model…");
    try {
      const body = { min_score: this.minScore };
      if (box) body.box = box;
      const answer = await request("POST", `/api/items/${this.item.id}/suggest`, { body });
      this.add(answer.instances, box);
    } catch (err) {
      const why = err instanceof ApiError ? err.message : String(err);
      this.chrome.say(`No suggestions: ${why}`);
    } finally {
      this.setBusy(false);
    }
  }

  add(instances, box) {
    const { doc, added, skipped } = withSuggestions(this.editor.doc, instances, {
      skipKnown: !box,
    });
    const already = skipped ? ` (${skipped} already annotated)` : "";
    if (!added.length) {
      this.chrome.say(box ? "The model found nobody in the box." : `No new people found${already}.`);
      return;
    }
    const what = added.length === 1 ? "1 suggestion" : `${added.length} suggestions`;
    this.editor.addSuggestions(doc, added[0], `Added ${what}${already}; C confirms the selected one`);
  }
}
