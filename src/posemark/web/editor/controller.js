// @ts-check
/**
 * The editor's model: the annotation document, what is selected, and the edits the
 * user can make. Views (canvas, panel, status bar) listen and redraw; input modules
 * (pointer, keys) call the methods here. Nothing in this file touches the DOM.
 *
 * Selection is `{instanceId, placeIndex, keypointIndex}`:
 * - `placeIndex`: the keypoint the next click on the image places (schema order), or
 *   null when not placing. Placing is a mode entered on purpose (a new instance, a
 *   click on a keypoint's row) and kept while the user goes on placing; selecting a
 *   person to look at it never arms a click, and a skipped keypoint stays skipped;
 * - `keypointIndex`: the keypoint V and the panel act on (the last placed, clicked or
 *   dragged one).
 * Every edit is one history entry holding the document and the selection, so undo
 * also puts the "next keypoint" cursor back where it was.
 */

import {
  NOT_LABELED,
  VISIBILITY_NAMES,
  VISIBLE,
  addInstance,
  findInstance,
  makeInstance,
  newInstanceId,
  nextUnlabeled,
  nextVisibility,
  normalizeDocument,
  removeInstance,
  setDerivedBbox,
  setDrawnBbox,
  transformInstance,
  setKeypoint,
  setVisibility,
} from "./document.js";
import { History } from "./state.js";
import { confirmInstance, confirmKeypoint } from "./suggest.js";

const NO_SELECTION = Object.freeze({ instanceId: null, placeIndex: null, keypointIndex: null });

export class AnnotationEditor {
  /**
   * @param {{keypoints: string[]}} skeleton the project's skeleton (names in schema order)
   * @param {object} doc the annotation document as loaded from the server
   */
  constructor(skeleton, doc) {
    this.skeleton = skeleton;
    this.keypointNames = skeleton.keypoints;
    this.doc = normalizeDocument(doc, this.keypointNames.length);
    this.selection = NO_SELECTION;
    this.history = new History();
    this.history.reset({ doc: this.doc, selection: this.selection, label: "Load" });
    this.listeners = new Set();
  }

  /**
   * Subscribes to changes. The listener gets `{docChanged, preview, message}`:
   * `preview` marks intermediate drag positions (drawn, not yet an edit).
   */
  onChange(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(change) {
    for (const listener of this.listeners) listener(change);
  }

  get selectedInstance() {
    return this.selection.instanceId ? findInstance(this.doc, this.selection.instanceId) : null;
  }

  /** The keypoint the next click places: `{index, name}`, or null. */
  get nextKeypoint() {
    const index = this.selection.placeIndex;
    if (!this.selectedInstance || index === null) return null;
    return { index, name: this.keypointNames[index] };
  }

  /** Records an edit: new document and selection as one undoable step. */
  commit(doc, selection, label) {
    this.doc = doc;
    this.selection = selection;
    this.history.push({ doc, selection, label });
    this.emit({ docChanged: true, message: label });
  }

  /** Changes only what is selected (not an edit, so not in the history). */
  select(selection, message = null) {
    this.selection = { ...NO_SELECTION, ...selection };
    this.emit({ docChanged: false, message });
  }

  selectInstance(instanceId) {
    const inst = instanceId ? findInstance(this.doc, instanceId) : null;
    if (!inst) {
      this.select(NO_SELECTION);
      return;
    }
    this.select({ instanceId, placeIndex: null, keypointIndex: null });
  }

  /** Selects the next (+1) or previous (-1) instance in list order. */
  selectRelative(step) {
    const list = this.doc.instances;
    if (!list.length) return;
    const at = list.findIndex((inst) => inst.id === this.selection.instanceId);
    const next =
      at < 0 ? (step > 0 ? 0 : list.length - 1) : (at + step + list.length) % list.length;
    this.selectInstance(list[next].id);
  }

  /** Selects a drawn keypoint (clicked or grabbed on the canvas). */
  selectKeypoint(instanceId, index) {
    const inst = findInstance(this.doc, instanceId);
    if (!inst) return;
    const sameInstance = instanceId === this.selection.instanceId;
    const placeIndex = sameInstance ? this.selection.placeIndex : null;
    this.select({ instanceId, placeIndex, keypointIndex: index });
  }

  /** Leaves placing mode; the person stays selected. */
  stopPlacing() {
    if (this.selection.placeIndex === null) return;
    this.select({ ...this.selection, placeIndex: null }, "Stopped placing");
  }

  /** Makes keypoint `index` the one the next click places (chosen in the keypoint list). */
  choosePlaceTarget(index) {
    if (!this.selectedInstance) return;
    this.select(
      { instanceId: this.selection.instanceId, placeIndex: index, keypointIndex: index },
      `Click to place ${this.keypointNames[index]}`,
    );
  }

  /**
   * Places the next keypoint at image point (x, y). Returns why nothing happened
   * ("no-instance", "complete") or null when a keypoint was placed.
   */
  placeAt(x, y) {
    const inst = this.selectedInstance;
    if (!inst) return "no-instance";
    const index = this.selection.placeIndex;
    if (index === null) return "complete";
    const previous = inst.keypoints[index][2];
    const v = previous === NOT_LABELED ? VISIBLE : previous;
    const doc = confirmKeypoint(setKeypoint(this.doc, inst.id, index, x, y, v), inst.id, index);
    const placeIndex = nextUnlabeled(findInstance(doc, inst.id), index);
    this.commit(
      doc,
      { instanceId: inst.id, placeIndex, keypointIndex: index },
      `Placed ${this.keypointNames[index]}`,
    );
    return null;
  }

  /** Leaves the next keypoint not labeled and moves on to the one after it. */
  skip() {
    const inst = this.selectedInstance;
    const index = this.selection.placeIndex;
    if (!inst || index === null) return false;
    const placeIndex = nextUnlabeled(inst, index);
    this.commit(
      this.doc,
      { ...this.selection, placeIndex },
      `Skipped ${this.keypointNames[index]} (not labeled)`,
    );
    return true;
  }

  /** visible -> occluded -> not labeled for the selected keypoint. */
  cycleVisibility() {
    const inst = this.selectedInstance;
    const index = this.selection.keypointIndex;
    if (!inst || index === null) return false;
    const v = inst.keypoints[index][2];
    if (v === NOT_LABELED) return false;
    const nextV = nextVisibility(v);
    const doc = confirmKeypoint(setVisibility(this.doc, inst.id, index, nextV), inst.id, index);
    // While placing, a cleared keypoint is the obvious next one to place again.
    const placing = this.selection.placeIndex !== null;
    const placeIndex = nextV === NOT_LABELED && placing ? index : this.selection.placeIndex;
    this.commit(
      doc,
      { instanceId: inst.id, placeIndex, keypointIndex: index },
      `${this.keypointNames[index]}: ${VISIBILITY_NAMES[nextV]}`,
    );
    return true;
  }

  /** Shows a keypoint at a dragged position without recording an edit yet. */
  previewMove(instanceId, index, x, y) {
    const v = findInstance(this.doc, instanceId).keypoints[index][2];
    this.doc = setKeypoint(this.doc, instanceId, index, x, y, v);
    this.emit({ docChanged: true, preview: true, message: null });
  }

  /** Ends a drag: the keypoint's final position becomes one edit. */
  commitMove(instanceId, index) {
    // A person moved a model's keypoint: that keypoint is theirs now (suggest.js).
    this.commit(
      confirmKeypoint(this.doc, instanceId, index),
      { ...this.selection, instanceId, keypointIndex: index },
      `Moved ${this.keypointNames[index]}`,
    );
  }

  /**
   * Shows the selected person moved, rotated or scaled as a whole (its handles are
   * being dragged), from the last recorded state, without recording an edit yet;
   * `bounds` (the image's size) keeps it inside the image.
   */
  previewTransform(instanceId, transform, bounds = null) {
    this.doc = transformInstance(this.history.current.doc, instanceId, transform, bounds);
    this.emit({ docChanged: true, preview: true, message: null });
  }

  /** Ends a whole-person drag: one edit. */
  commitTransform(instanceId, label) {
    this.commit(this.doc, { ...this.selection, instanceId }, `${label} ${instanceId}`);
  }

  /**
   * Adds a copy of a person (from this item or another one) as a new human instance,
   * confirmed, without a track; `offset` shifts it so it does not hide the original.
   */
  pasteInstance(copied, offset = 0) {
    const id = newInstanceId(this.doc);
    const keypoints = copied.keypoints.map(([x, y, v]) =>
      v > 0 ? [x + offset, y + offset, v] : [null, null, NOT_LABELED],
    );
    const bbox = copied.bbox_mode === "drawn" && copied.bbox
      ? [copied.bbox[0] + offset, copied.bbox[1] + offset, copied.bbox[2], copied.bbox[3]]
      : null;
    const inst = {
      ...makeInstance(id, this.keypointNames.length),
      keypoints,
      bbox,
      bbox_mode: bbox ? "drawn" : "derived",
    };
    this.commit(
      addInstance(this.doc, inst),
      { instanceId: id, placeIndex: null, keypointIndex: null },
      `Pasted a copy of ${copied.id} as ${id}`,
    );
    return id;
  }

  /** Abandons a drag in progress (Escape): back to the last recorded state. */
  cancelPreview() {
    const { doc } = this.history.current;
    if (doc !== this.doc) {
      this.doc = doc;
      this.emit({ docChanged: true, preview: true, message: "Move cancelled" });
    }
  }

  addInstance() {
    const id = newInstanceId(this.doc);
    const doc = addInstance(this.doc, makeInstance(id, this.keypointNames.length));
    this.commit(
      doc,
      { instanceId: id, placeIndex: 0, keypointIndex: null },
      `Added instance ${id}`,
    );
    return id;
  }

  /** Confirms a model suggestion (or other unconfirmed instance) as a whole. */
  confirmInstance(instanceId = this.selection.instanceId) {
    const inst = instanceId ? findInstance(this.doc, instanceId) : null;
    if (!inst || inst.confirmed) return false;
    this.commit(confirmInstance(this.doc, instanceId), this.selection, `Confirmed ${instanceId}`);
    return true;
  }

  /** Model suggestions added (suggest.js built `doc`); the first one is selected. */
  addSuggestions(doc, selectId, label) {
    const inst = findInstance(doc, selectId);
    const selection = inst
      ? { instanceId: selectId, placeIndex: null, keypointIndex: null }
      : this.selection;
    this.commit(doc, selection, label);
  }

  deleteInstance(instanceId = this.selection.instanceId) {
    if (!instanceId || !findInstance(this.doc, instanceId)) return false;
    const selection = instanceId === this.selection.instanceId ? NO_SELECTION : this.selection;
    this.commit(removeInstance(this.doc, instanceId), selection, `Deleted instance ${instanceId}`);
    return true;
  }

  /**
   * Sets a hand-drawn box on the selected instance; with no instance selected the box
   * starts a new instance (a common way to begin: box the person, then the keypoints).
   */
  drawBbox(bbox) {
    let doc = this.doc;
    let instanceId = this.selection.instanceId;
    let placeIndex = this.selection.placeIndex;
    if (!instanceId || !findInstance(doc, instanceId)) {
      instanceId = newInstanceId(doc);
      doc = addInstance(doc, makeInstance(instanceId, this.keypointNames.length));
      placeIndex = 0;
    }
    doc = setDrawnBbox(doc, instanceId, bbox);
    this.commit(doc, { ...this.selection, instanceId, placeIndex }, `Box drawn for ${instanceId}`);
  }

  /** Returns the selected instance's box to being derived from its keypoints. */
  deriveBbox(instanceId = this.selection.instanceId) {
    if (!instanceId) return;
    this.commit(
      setDerivedBbox(this.doc, instanceId),
      this.selection,
      `Box of ${instanceId} derived`,
    );
  }

  /**
   * The current selection where it still exists in `doc` (following a renamed
   * instance id), else nothing selected.
   */
  selectionKeptIn(doc, renamed = new Map()) {
    const id = renamed.get(this.selection.instanceId) ?? this.selection.instanceId;
    const inst = id ? findInstance(doc, id) : null;
    const at = this.selection.placeIndex;
    const stillFree = at !== null && inst && inst.keypoints[at][2] === NOT_LABELED;
    return inst ? { ...this.selection, instanceId: id, placeIndex: stillFree ? at : null } : NO_SELECTION;
  }

  /** Puts a whole document in place as one undoable edit (a restored local draft). */
  replaceDocument(doc, label) {
    const next = normalizeDocument(doc, this.keypointNames.length);
    const selection = this.selectionKeptIn(next);
    this.commit(next, selection, label);
  }

  /**
   * Replaces the document after a conflict (the merged one, or the server's) and
   * starts a new history from it. Undo must not cross this point: an older snapshot
   * lacks the other person's work, and saving it would delete that work silently.
   */
  resetDocument(doc, label, renamed = new Map()) {
    const next = normalizeDocument(doc, this.keypointNames.length);
    const selection = this.selectionKeptIn(next, renamed);
    this.doc = next;
    this.selection = selection;
    this.history.reset({ doc: next, selection, label });
    this.emit({ docChanged: true, message: label });
  }

  undo() {
    const step = this.history.undo();
    if (!step) return false;
    this.doc = step.snapshot.doc;
    this.selection = step.snapshot.selection;
    this.emit({ docChanged: true, message: `Undid: ${step.label}` });
    return true;
  }

  redo() {
    const step = this.history.redo();
    if (!step) return false;
    this.doc = step.snapshot.doc;
    this.selection = step.snapshot.selection;
    this.emit({ docChanged: true, message: `Redid: ${step.label}` });
    return true;
  }
}
