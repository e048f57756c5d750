// @ts-check
/**
 * The loupe: a magnifier that follows the cursor and shows the image pixels around
 * it enlarged (nearest-neighbour, so pixel edges stay sharp) with a crosshair on the
 * exact point a click would place. It lets annotators hit the right pixel without
 * zooming the whole view in and out.
 */

import { h } from "../dom.js";
import { sideColor } from "./colors.js";
import { NOT_LABELED, OCCLUDED } from "./document.js";

const SIZE = 168; // CSS pixels
const OFFSET = 28; // from the cursor, so the loupe never covers the point being placed

export class Loupe {
  /** @param {HTMLElement} container the stage wrapper the loupe floats in */
  constructor(container, imageUrl, sides) {
    this.sides = sides;
    this.enabled = false;
    this.canvas = h("canvas", { class: "loupe", "aria-hidden": "true", hidden: true });
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(SIZE * dpr);
    this.canvas.height = Math.round(SIZE * dpr);
    this.canvas.style.width = `${SIZE}px`;
    this.canvas.style.height = `${SIZE}px`;
    this.ctx = this.canvas.getContext("2d");
    this.ctx.scale(dpr, dpr);
    this.image = new Image();
    this.image.src = imageUrl;
    this.image.addEventListener("load", () => this.redraw());
    this.container = container;
    container.append(this.canvas);
    this.last = null;
  }

  toggle() {
    this.enabled = !this.enabled;
    if (!this.enabled) this.canvas.hidden = true;
    else this.redraw();
    return this.enabled;
  }

  /**
   * Draws around image point `point`, positioned near client point `client`;
   * null hides it (cursor left the stage).
   */
  update(point, client, doc, scale) {
    this.last = point ? { point, client, doc, scale } : null;
    this.redraw();
  }

  redraw() {
    if (!this.enabled || !this.last || !this.image.complete || !this.image.naturalWidth) {
      this.canvas.hidden = true;
      return;
    }
    const { point, client, doc, scale } = this.last;
    const magnification = Math.min(48, Math.max(8, scale * 4));
    const span = SIZE / magnification; // image pixels across the loupe
    const sx = point.x - span / 2;
    const sy = point.y - span / 2;
    const ctx = this.ctx;
    ctx.imageSmoothingEnabled = false;
    ctx.fillStyle = "#0b0f14";
    ctx.fillRect(0, 0, SIZE, SIZE);
    drawClipped(ctx, this.image, sx, sy, span, magnification);
    this.drawKeypoints(doc, sx, sy, magnification);
    this.drawCrosshair(point, sx, sy, magnification);
    this.place(client);
    this.canvas.hidden = false;
  }

  drawKeypoints(doc, sx, sy, magnification) {
    const ctx = this.ctx;
    for (const inst of doc.instances) {
      inst.keypoints.forEach(([x, y, v], k) => {
        if (v === NOT_LABELED) return;
        const cx = (x - sx) * magnification;
        const cy = (y - sy) * magnification;
        if (cx < -10 || cy < -10 || cx > SIZE + 10 || cy > SIZE + 10) return;
        ctx.beginPath();
        ctx.arc(cx, cy, 5, 0, Math.PI * 2);
        ctx.lineWidth = 2;
        ctx.strokeStyle = sideColor(this.sides[k]);
        if (v === OCCLUDED) {
          ctx.stroke();
        } else {
          ctx.fillStyle = sideColor(this.sides[k]);
          ctx.fill();
          ctx.strokeStyle = "#0b0f14";
          ctx.lineWidth = 1;
          ctx.stroke();
        }
      });
    }
  }

  /** A crosshair with a gap, plus the outline of the image pixel under the cursor. */
  drawCrosshair(point, sx, sy, magnification) {
    const ctx = this.ctx;
    const c = SIZE / 2;
    const gap = 6;
    ctx.lineWidth = 1;
    for (const [color, width] of [
      ["rgba(0,0,0,0.7)", 3],
      ["#ffffff", 1],
    ]) {
      ctx.strokeStyle = color;
      ctx.lineWidth = width;
      ctx.beginPath();
      ctx.moveTo(0, c);
      ctx.lineTo(c - gap, c);
      ctx.moveTo(c + gap, c);
      ctx.lineTo(SIZE, c);
      ctx.moveTo(c, 0);
      ctx.lineTo(c, c - gap);
      ctx.moveTo(c, c + gap);
      ctx.lineTo(c, SIZE);
      ctx.stroke();
    }
    const px = (Math.floor(point.x) - sx) * magnification;
    const py = (Math.floor(point.y) - sy) * magnification;
    ctx.strokeStyle = "rgba(250, 204, 21, 0.9)";
    ctx.strokeRect(px + 0.5, py + 0.5, magnification - 1, magnification - 1);
  }

  /** Below-right of the cursor, flipped to stay inside the stage. */
  place(client) {
    const rect = this.container.getBoundingClientRect();
    let left = client.x - rect.left + OFFSET;
    let top = client.y - rect.top + OFFSET;
    if (left + SIZE > rect.width) left = client.x - rect.left - OFFSET - SIZE;
    if (top + SIZE > rect.height) top = client.y - rect.top - OFFSET - SIZE;
    this.canvas.style.transform = `translate(${Math.max(0, left)}px, ${Math.max(0, top)}px)`;
  }

  destroy() {
    this.canvas.remove();
  }
}

/** drawImage with the source rectangle clipped to the image (outside stays background). */
function drawClipped(ctx, image, sx, sy, span, magnification) {
  const x0 = Math.max(0, sx);
  const y0 = Math.max(0, sy);
  const x1 = Math.min(image.naturalWidth, sx + span);
  const y1 = Math.min(image.naturalHeight, sy + span);
  if (x1 <= x0 || y1 <= y0) return;
  ctx.drawImage(
    image,
    x0,
    y0,
    x1 - x0,
    y1 - y0,
    (x0 - sx) * magnification,
    (y0 - sy) * magnification,
    (x1 - x0) * magnification,
    (y1 - y0) * magnification,
  );
}
