// @ts-check
/**
 * The zoom/pan transform between image pixels and the stage on screen.
 *
 * stage point = image point * scale + (tx, ty), where a stage point is in CSS pixels
 * from the stage's top-left corner. Everything that converts between screen and
 * image goes through here, so clicks map to image coordinates by the exact inverse
 * of what is drawn (floats, never rounded).
 */

export const MIN_SCALE = 0.02;
export const MAX_SCALE = 64;

const clampScale = (scale) => Math.min(MAX_SCALE, Math.max(MIN_SCALE, scale));

export class ViewTransform {
  /** @param {Element} stage the element the transform is relative to */
  constructor(stage) {
    this.stage = stage;
    this.scale = 1;
    this.tx = 0;
    this.ty = 0;
    this.listeners = new Set();
  }

  /** Calls `listener()` after every change of the transform; returns an unsubscribe function. */
  onChange(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit() {
    for (const listener of this.listeners) listener();
  }

  /** The SVG transform attribute value for the image group. */
  get svgTransform() {
    return `matrix(${this.scale} 0 0 ${this.scale} ${this.tx} ${this.ty})`;
  }

  stageSize() {
    const rect = this.stage.getBoundingClientRect();
    return { width: rect.width, height: rect.height };
  }

  /** Client (viewport) point -> stage point. */
  clientToStage(clientX, clientY) {
    const rect = this.stage.getBoundingClientRect();
    return { x: clientX - rect.left, y: clientY - rect.top };
  }

  /** Client (viewport) point -> image pixel coordinates. */
  clientToImage(clientX, clientY) {
    const p = this.clientToStage(clientX, clientY);
    return { x: (p.x - this.tx) / this.scale, y: (p.y - this.ty) / this.scale };
  }

  /** Image pixel coordinates -> client (viewport) point. */
  imageToClient(x, y) {
    const rect = this.stage.getBoundingClientRect();
    return { x: rect.left + x * this.scale + this.tx, y: rect.top + y * this.scale + this.ty };
  }

  /** Sets the scale while keeping the image point under stage point (sx, sy) fixed. */
  zoomTo(scale, sx, sy) {
    const next = clampScale(scale);
    const ix = (sx - this.tx) / this.scale;
    const iy = (sy - this.ty) / this.scale;
    this.scale = next;
    this.tx = sx - ix * next;
    this.ty = sy - iy * next;
    this.emit();
  }

  /** Multiplies the scale around a stage point (the cursor for wheel zoom). */
  zoomBy(factor, sx, sy) {
    this.zoomTo(this.scale * factor, sx, sy);
  }

  /** Multiplies the scale around the stage centre (keyboard and toolbar zoom). */
  zoomAroundCentre(factor) {
    const { width, height } = this.stageSize();
    this.zoomBy(factor, width / 2, height / 2);
  }

  /** Sets the scale and puts image point (x, y) in the centre of the stage. */
  centreOn(x, y, scale = this.scale) {
    const { width, height } = this.stageSize();
    this.scale = clampScale(scale);
    this.tx = width / 2 - x * this.scale;
    this.ty = height / 2 - y * this.scale;
    this.emit();
  }

  panBy(dx, dy) {
    this.tx += dx;
    this.ty += dy;
    this.emit();
  }

  /** Shows the whole image, centred, with a small margin. */
  fit(imageWidth, imageHeight, margin = 0.96) {
    const { width, height } = this.stageSize();
    if (!width || !height || !imageWidth || !imageHeight) return;
    const scale = clampScale(Math.min(width / imageWidth, height / imageHeight) * margin);
    this.centreOn(imageWidth / 2, imageHeight / 2, scale);
  }

  /** One image pixel per CSS pixel, keeping the centre of the stage where it is. */
  actualSize() {
    const { width, height } = this.stageSize();
    this.zoomTo(1, width / 2, height / 2);
  }
}
