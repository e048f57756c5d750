// @ts-check
/**
 * Mouse/pen input on the stage: place, drag a keypoint, pan, draw a box, wheel zoom.
 *
 * A click on the image places a keypoint only in placing mode (controller.js); outside
 * it a click on the background deselects. Clicking a keypoint selects it, except while
 * placing when the keypoint belongs to another person: then the click places, because
 * in a crowd the next joint often lies on someone else's marker.
 * Dragging any keypoint moves that one keypoint. Positions stay inside the image.
 *
 * Pointer events are used (not mouse events) because they carry fractional client
 * coordinates, which keeps sub-pixel precision when zoomed in. A press that moves
 * less than CLICK_SLOP screen pixels is a click and places the keypoint where the
 * button went down (a hand's jitter on release must not shift the point).
 */

import { findInstance } from "./document.js";
import { OverlayRenderer } from "./render.js";

const CLICK_SLOP = 4;
const DRAG_SLOP = 2;

const distance = (a, b) => Math.hypot(a.x - b.x, a.y - b.y);

export class PointerInput {
  /**
   * @param {object} deps
   * @param {SVGSVGElement} deps.svg the stage
   * @param {import("./view.js").ViewTransform} deps.view
   * @param {import("./controller.js").AnnotationEditor} deps.editor
   * @param {import("./render.js").OverlayRenderer} deps.renderer
   * @param {(point: {x: number, y: number} | null, client?: {x: number, y: number}) => void} deps.onCursor
   * @param {(why: string) => void} deps.onPlaceRefused "no-instance", "complete" or "outside"
   * @param {{width: number, height: number}} deps.imageSize the image, in pixels
   */
  constructor({ svg, view, editor, renderer, onCursor, onPlaceRefused, imageSize }) {
    this.svg = svg;
    this.view = view;
    this.editor = editor;
    this.renderer = renderer;
    this.onCursor = onCursor;
    this.onPlaceRefused = onPlaceRefused;
    this.imageSize = imageSize;
    this.gesture = null;
    this.spaceHeld = false;
    this.boxArmed = false;
    this.handlers = {
      pointerdown: (e) => this.down(e),
      pointermove: (e) => this.move(e),
      pointerup: (e) => this.up(e),
      pointercancel: () => this.cancel(),
      pointerleave: () => {
        if (!this.gesture) this.onCursor(null);
      },
      wheel: (e) => this.wheel(e),
      contextmenu: (e) => e.preventDefault(),
    };
    this.offEditor = editor.onChange(() => this.updateCursor());
    for (const [type, handler] of Object.entries(this.handlers)) {
      // Only wheel (zoom instead of scroll) and contextmenu are cancelled.
      svg.addEventListener(type, handler, { passive: type !== "wheel" && type !== "contextmenu" });
    }
  }

  destroy() {
    this.offEditor();
    for (const [type, handler] of Object.entries(this.handlers)) {
      this.svg.removeEventListener(type, handler);
    }
  }

  /**
   * B: the next drag on the stage draws the selected instance's box. With `onBox`, the
   * drawn box goes to that function instead (e.g. "Suggest in box").
   */
  armBox(armed = true, onBox = null) {
    this.boxArmed = armed;
    this.onBox = armed ? onBox : null;
    this.updateCursor();
  }

  setSpaceHeld(held) {
    this.spaceHeld = held;
    this.updateCursor();
  }

  updateCursor() {
    const mode =
      this.gesture?.kind === "pan"
        ? "panning"
        : this.spaceHeld
          ? "pan"
          : this.boxArmed
            ? "box"
            : this.editor.nextKeypoint
              ? "place"
              : "select";
    this.svg.dataset.mode = mode;
  }

  clientPoint(e) {
    return { x: e.clientX, y: e.clientY };
  }

  down(e) {
    if (this.gesture) return;
    const client = this.clientPoint(e);
    const image = this.view.clientToImage(client.x, client.y);
    const keypointEl = e.target.closest ? e.target.closest(".keypoint") : null;
    const handleEl = e.target.closest ? e.target.closest(".person-handle") : null;
    if (e.button === 1 || (e.button === 0 && this.spaceHeld)) {
      this.gesture = { kind: "pan", last: client };
    } else if (e.button !== 0) {
      return;
    } else if (this.boxArmed) {
      this.gesture = { kind: "box", start: this.clamp(image) };
    } else if (handleEl) {
      const instanceId = handleEl.dataset.instanceId;
      const inst = findInstance(this.editor.doc, instanceId);
      const at = OverlayRenderer.handlePositions(inst, this.view.scale);
      this.gesture = {
        kind: "person",
        handle: handleEl.dataset.handle,
        instanceId,
        startImage: image,
        centre: at.centre,
        moved: false,
      };
    } else if (keypointEl) {
      const instanceId = keypointEl.dataset.instanceId;
      const index = this.editor.keypointNames.indexOf(keypointEl.dataset.keypoint);
      const [kx, ky] = findInstance(this.editor.doc, instanceId).keypoints[index];
      this.gesture = {
        kind: "keypoint",
        instanceId,
        index,
        startClient: client,
        startImage: image,
        offset: { x: kx - image.x, y: ky - image.y },
        moved: false,
      };
    } else {
      this.gesture = { kind: "press", startClient: client, startImage: image };
    }
    // Keyboard shortcuts such as Tab (skip) and Space (pan) act while the stage has focus.
    this.svg.focus({ preventScroll: true });
    this.svg.setPointerCapture(e.pointerId);
    this.updateCursor();
  }

  move(e) {
    const client = this.clientPoint(e);
    const image = this.view.clientToImage(client.x, client.y);
    this.onCursor(image, client);
    const g = this.gesture;
    if (!g) return;
    if (g.kind === "press" && distance(client, g.startClient) > CLICK_SLOP) {
      // Dragging the background pans; the press is no longer a click.
      this.gesture = { kind: "pan", last: g.startClient };
      this.updateCursor();
    }
    const gesture = this.gesture;
    if (gesture.kind === "pan") {
      this.view.panBy(client.x - gesture.last.x, client.y - gesture.last.y);
      gesture.last = client;
    } else if (gesture.kind === "keypoint") {
      if (!gesture.moved) {
        if (distance(client, gesture.startClient) <= DRAG_SLOP) return;
        gesture.moved = true;
        this.editor.selectKeypoint(gesture.instanceId, gesture.index);
      }
      const target = this.clamp({ x: image.x + gesture.offset.x, y: image.y + gesture.offset.y });
      this.editor.previewMove(gesture.instanceId, gesture.index, target.x, target.y);
    } else if (gesture.kind === "box") {
      this.renderer.showDraftBox(boxBetween(gesture.start, this.clamp(image)));
    } else if (gesture.kind === "person") {
      gesture.moved = true;
      this.editor.previewTransform(gesture.instanceId, personTransform(gesture, image), this.imageSize);
    }
  }

  up(e) {
    const g = this.gesture;
    if (!g) return;
    this.gesture = null;
    if (this.svg.hasPointerCapture(e.pointerId)) this.svg.releasePointerCapture(e.pointerId);
    if (g.kind === "press") {
      this.place(g.startImage);
    } else if (g.kind === "keypoint" && g.moved) {
      this.editor.commitMove(g.instanceId, g.index);
    } else if (g.kind === "keypoint") {
      const placing = this.editor.nextKeypoint !== null;
      if (placing && g.instanceId !== this.editor.selection.instanceId) this.place(g.startImage);
      else this.editor.selectKeypoint(g.instanceId, g.index);
    } else if (g.kind === "person") {
      const label = { move: "Moved", rotate: "Rotated", scale: "Scaled" }[g.handle];
      if (g.moved) this.editor.commitTransform(g.instanceId, label);
    } else if (g.kind === "box") {
      this.renderer.showDraftBox(null);
      const image = this.clamp(this.view.clientToImage(e.clientX, e.clientY));
      const box = boxBetween(g.start, image);
      const minimum = 2 / this.view.scale;
      const onBox = this.onBox;
      this.onBox = null;
      if (box[2] > minimum && box[3] > minimum) {
        if (onBox) onBox(box);
        else this.editor.drawBbox(box);
      }
      this.boxArmed = false;
    }
    this.updateCursor();
  }

  /**
   * Places the next keypoint at an image point; clicks outside the image place nothing.
   * Outside placing mode the click only deselects: looking at a person must never
   * label it by accident.
   */
  place(point) {
    if (!this.editor.nextKeypoint) {
      if (this.editor.selectedInstance) this.editor.selectInstance(null);
      else this.onPlaceRefused("no-instance");
      return;
    }
    const { width, height } = this.imageSize;
    const inside = point.x >= 0 && point.y >= 0 && point.x <= width && point.y <= height;
    const refused = inside ? this.editor.placeAt(point.x, point.y) : "outside";
    if (refused) this.onPlaceRefused(refused);
  }

  /** The nearest point inside the image (drags and boxes stop at its edge). */
  clamp(point) {
    const { width, height } = this.imageSize;
    return {
      x: Math.min(width, Math.max(0, point.x)),
      y: Math.min(height, Math.max(0, point.y)),
    };
  }

  /** Escape or a cancelled pointer: abandon the gesture without an edit. */
  cancel() {
    const g = this.gesture;
    this.gesture = null;
    if ((g?.kind === "keypoint" || g?.kind === "person") && g.moved) this.editor.cancelPreview();
    if (g?.kind === "box") this.renderer.showDraftBox(null);
    this.boxArmed = false;
    this.onBox = null;
    this.updateCursor();
    return Boolean(g);
  }

  wheel(e) {
    e.preventDefault();
    // Pixel deltas from mice and trackpads; line deltas (Firefox) are ~30x larger steps.
    const perUnit = e.deltaMode === 1 ? 0.05 : e.ctrlKey ? 0.01 : 0.0015;
    const factor = Math.exp(-e.deltaY * perUnit);
    const p = this.view.clientToStage(e.clientX, e.clientY);
    this.view.zoomBy(factor, p.x, p.y);
    this.onCursor(this.view.clientToImage(e.clientX, e.clientY), this.clientPoint(e));
  }
}

/** The whole-person transform a handle drag asks for, from where it started to `image`. */
function personTransform(g, image) {
  const { centre, startImage } = g;
  if (g.handle === "move") {
    return { dx: image.x - startImage.x, dy: image.y - startImage.y };
  }
  const from = { x: startImage.x - centre.x, y: startImage.y - centre.y };
  const to = { x: image.x - centre.x, y: image.y - centre.y };
  if (g.handle === "rotate") {
    const angle = Math.atan2(to.y, to.x) - Math.atan2(from.y, from.x);
    return { angle, cx: centre.x, cy: centre.y };
  }
  const ratio = Math.hypot(to.x, to.y) / Math.max(1e-6, Math.hypot(from.x, from.y));
  return { scale: Math.min(10, Math.max(0.1, ratio)), cx: centre.x, cy: centre.y };
}

/** The [x, y, w, h] box spanned by two corners, whichever way the drag went. */
function boxBetween(a, b) {
  return [Math.min(a.x, b.x), Math.min(a.y, b.y), Math.abs(a.x - b.x), Math.abs(a.y - b.y)];
}
