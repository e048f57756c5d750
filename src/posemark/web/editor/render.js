// @ts-check
/**
 * Draws the image and the annotation overlay as SVG.
 *
 * Geometry lives in image pixels inside one transformed group, so what is drawn and
 * what a click maps to use the same transform. Marker sizes and stroke widths are in
 * screen pixels (divided by the zoom, or non-scaling strokes) so keypoints stay the
 * same size on screen at any zoom and never hide the pixel they mark.
 *
 * Every keypoint is a `<g class="keypoint">` carrying data-instance-id, data-keypoint
 * and data-visibility (the contract for browser tests). Not-labeled keypoints are
 * present but not displayed, so tests and tools can still read their state.
 *
 * The selected person also gets three handles outside its box, `g.person-handle
 * [data-handle=move|rotate|scale]`: the only way to move, rotate or scale a whole person,
 * far from any keypoint so that fixing one keypoint never drags the body along.
 */

import { s } from "../dom.js";
import { instanceColor, sideColor, trackColor } from "./colors.js";
import { NOT_LABELED, OCCLUDED, VISIBILITY_NAMES, instanceBox } from "./document.js";
import { keypointConfirmed, keypointScore } from "./suggest.js";
import { findingMarkers } from "./findings.js";
import { commentMarkers } from "./comments.js";

/** Screen sizes, in CSS pixels. */
const DOT_RADIUS = 4.5;
const SELECTED_DOT_RADIUS = 5.5;
const HIT_RADIUS = 8;
const HANDLE_SIZE = 12;
const HANDLE_GAP = 18;

export class OverlayRenderer {
  /**
   * @param {SVGSVGElement} svg the stage
   * @param {{keypoints: string[], edges: string[][], sides: string[]}} skeleton
   */
  constructor(svg, skeleton) {
    this.svg = svg;
    this.names = skeleton.keypoints;
    const index = new Map(this.names.map((name, i) => [name, i]));
    this.edges = (skeleton.edges || []).map(([a, b]) => [index.get(a), index.get(b)]);
    this.sides = skeleton.sides || this.names.map(() => "center");
    this.viewport = s("g", { class: "viewport" });
    this.image = s("image", { class: "photo", x: 0, y: 0, preserveAspectRatio: "none" });
    this.overlay = s("g", { class: "overlay" });
    this.draftBox = s("rect", { class: "draft-box", visibility: "hidden" });
    this.viewport.append(this.image, this.overlay, this.draftBox);
    svg.append(this.viewport);
    this.findings = [];
    this.comments = [];
  }

  /** Review comments to mark where they point from the next render on. */
  setComments(comments) {
    this.comments = comments || [];
  }

  /** QA findings to mark on their keypoints from the next render on. */
  setFindings(findings) {
    this.findings = findings || [];
  }

  setImage(url, width, height) {
    this.image.setAttribute("href", url);
    this.image.setAttribute("width", width);
    this.image.setAttribute("height", height);
  }

  /** Applies the view transform; pixels become crisp squares once zoomed in. */
  setView(view) {
    this.viewport.setAttribute("transform", view.svgTransform);
    this.image.classList.toggle("pixelated", view.scale >= 2);
    this.scale = view.scale;
  }

  /** Shows (or hides, with null) the box being drawn with B+drag, in image pixels. */
  showDraftBox(box) {
    if (!box) {
      this.draftBox.setAttribute("visibility", "hidden");
      return;
    }
    const [x, y, w, h] = box;
    for (const [k, v] of Object.entries({ x, y, width: w, height: h }))
      this.draftBox.setAttribute(k, v);
    this.draftBox.setAttribute("visibility", "visible");
  }

  /** Redraws every instance; the selected one last so it is on top. */
  render(doc, selection, scale) {
    const ordered = [...doc.instances].sort(
      (a, b) => Number(a.id === selection.instanceId) - Number(b.id === selection.instanceId),
    );
    this.overlay.replaceChildren(
      ...ordered.map((inst) => this.instanceGroup(inst, selection, scale)),
      findingMarkers(doc, this.names, this.findings, scale),
      commentMarkers(doc, this.names, this.comments, scale),
    );
  }

  instanceGroup(inst, selection, scale) {
    const selected = inst.id === selection.instanceId;
    const tracked = inst.track_id !== null && inst.track_id !== undefined;
    const color = tracked ? trackColor(inst.track_id) : instanceColor(inst.id);
    // Unconfirmed predictions are drawn dashed and hollow until a person confirms them.
    const predicted = inst.confirmed === false;
    const group = s("g", {
      class: `instance${selected ? " selected" : ""}${predicted ? " predicted" : ""}`,
      "data-instance-id": inst.id,
      "data-source": inst.source,
      "data-confirmed": String(!predicted),
      "data-track-id": tracked ? inst.track_id : null,
      style: `--instance-color: ${color}`,
    });
    if (inst.bbox) {
      const [x, y, w, h] = inst.bbox;
      group.append(
        s("rect", {
          class: `bbox ${inst.bbox_mode}`,
          x,
          y,
          width: w,
          height: h,
          "data-bbox-mode": inst.bbox_mode,
        }),
      );
    }
    for (const [a, b] of this.edges) {
      const pa = inst.keypoints[a];
      const pb = inst.keypoints[b];
      if (pa[2] === NOT_LABELED || pb[2] === NOT_LABELED) continue;
      const occluded = pa[2] === OCCLUDED || pb[2] === OCCLUDED;
      group.append(
        s("line", {
          class: `edge${occluded ? " occluded" : ""}`,
          x1: pa[0],
          y1: pa[1],
          x2: pb[0],
          y2: pb[1],
        }),
      );
    }
    inst.keypoints.forEach((kp, k) => {
      const active = selected && selection.keypointIndex === k;
      group.append(this.keypointGroup(inst.id, k, kp, selected, active, scale, inst));
    });
    if (selected && selection.keypointIndex !== null) {
      const kp = inst.keypoints[selection.keypointIndex];
      if (kp[2] !== NOT_LABELED)
        group.append(this.nameTag(kp, this.names[selection.keypointIndex], scale));
    }
    if (selected) group.append(...this.personHandles(inst, scale));
    return group;
  }

  /** Where the handles of a person are, in image pixels (null without a box). */
  static handlePositions(inst, scale) {
    const box = instanceBox(inst);
    if (!box || box[2] + box[3] <= 0) return null;
    const [x, y, w, h] = box;
    const gap = HANDLE_GAP / scale;
    return {
      move: { x: x - gap, y: y - gap },
      rotate: { x: x + w / 2, y: y - 2 * gap },
      scale: { x: x + w + gap, y: y + h + gap },
      centre: { x: x + w / 2, y: y + h / 2 },
    };
  }

  personHandles(inst, scale) {
    const at = OverlayRenderer.handlePositions(inst, scale);
    if (!at) return [];
    const size = HANDLE_SIZE / scale;
    const titles = {
      move: "Drag to move the whole person",
      rotate: "Drag to rotate the whole person around its centre",
      scale: "Drag to scale the whole person from its centre",
    };
    const handle = (kind, shape) =>
      s(
        "g",
        {
          class: `person-handle ${kind}`,
          "data-handle": kind,
          "data-instance-id": inst.id,
          transform: `translate(${at[kind].x} ${at[kind].y})`,
        },
        s("title", { text: titles[kind] }),
        shape,
      );
    return [
      s("line", {
        class: "handle-stem",
        x1: at.centre.x,
        y1: at.rotate.y,
        x2: at.centre.x,
        y2: at.rotate.y + HANDLE_GAP / scale,
      }),
      handle("move", s("rect", { x: -size / 2, y: -size / 2, width: size, height: size, rx: size / 5 })),
      handle("rotate", s("circle", { r: size / 2 })),
      handle("scale", s("rect", { x: -size / 2, y: -size / 2, width: size, height: size })),
    ];
  }

  keypointGroup(instanceId, k, [x, y, v], selected, active, scale, inst) {
    const name = this.names[k];
    const side = this.sides[k] || "center";
    const confirmed = inst ? keypointConfirmed(inst, k) : true;
    const score = inst ? keypointScore(inst, k) : null;
    const scoreText = score === null ? "" : `, model score ${score.toFixed(2)}`;
    const unconfirmedText = confirmed ? "" : ", unconfirmed (C confirms the instance)";
    const r = (selected ? SELECTED_DOT_RADIUS : DOT_RADIUS) / scale;
    const g = s(
      "g",
      {
        class: `keypoint${active ? " active" : ""}${confirmed ? "" : " predicted"}`,
        "data-instance-id": instanceId,
        "data-keypoint": name,
        "data-visibility": v,
        "data-side": side,
        "data-source": inst ? inst.source : null,
        "data-track-id": inst && inst.track_id !== null ? inst.track_id : null,
        "data-confirmed": String(confirmed),
        "data-score": score === null ? null : score.toFixed(3),
        display: v === NOT_LABELED ? "none" : null,
        transform: v === NOT_LABELED ? null : `translate(${x} ${y})`,
        style: `--side-color: ${sideColor(side)}`,
      },
      s("title", {
        text: `${name} (${VISIBILITY_NAMES[v]}), instance ${instanceId}${scoreText}${unconfirmedText}`,
      }),
      s("circle", { class: "hit", r: HIT_RADIUS / scale }),
    );
    if (active) g.append(s("circle", { class: "ring", r: r + 3.5 / scale }));
    g.append(s("circle", { class: `dot${v === OCCLUDED ? " hollow" : ""}`, r }));
    return g;
  }

  /** The selected keypoint's name next to it, so the user sees what they are moving. */
  nameTag([x, y], name, scale) {
    const offset = 9 / scale;
    return s("text", {
      class: "name-tag",
      x: x + offset,
      y: y - offset,
      "font-size": 12 / scale,
      "stroke-width": 3 / scale,
      text: name.replaceAll("_", " "),
    });
  }
}
