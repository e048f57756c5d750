// @ts-check
/**
 * The annotation document (docs/server-contract.md) and the edits made to it.
 *
 * Every function here is pure: it takes a document and returns a new one, never
 * mutating its input. That is what makes undo/redo (keep the old object), autosave
 * (compare with the last saved object) and conflict merging (diff base and mine,
 * replay onto theirs) simple and safe.
 *
 * Keypoints are [x, y, v] triples in skeleton order: v 0 not labeled (x, y null),
 * 1 labeled but occluded, 2 visible. Coordinates are image pixels as floats
 * (origin at the top-left corner of the image, pixel centres at .5); never rounded.
 */

export const NOT_LABELED = 0;
export const OCCLUDED = 1;
export const VISIBLE = 2;

export const VISIBILITY_NAMES = { 0: "not labeled", 1: "occluded", 2: "visible" };

/** A deep copy; documents are plain JSON. */
export function cloneDocument(doc) {
  return structuredClone(doc);
}

/** True when two documents would serialise to the same JSON. */
export function sameDocument(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Fills fields an older or imported document may lack, so the editor can rely on them. */
export function normalizeDocument(doc, keypointCount) {
  const instances = (doc && Array.isArray(doc.instances) ? doc.instances : []).map((inst) => {
    const keypoints = [];
    for (let k = 0; k < keypointCount; k++) {
      const kp = inst.keypoints && inst.keypoints[k];
      keypoints.push(kp && kp[2] > 0 ? [kp[0], kp[1], kp[2]] : [null, null, NOT_LABELED]);
    }
    return {
      ...inst,
      keypoints,
      bbox: inst.bbox ?? null,
      bbox_mode: inst.bbox_mode === "drawn" ? "drawn" : "derived",
      source: inst.source ?? "human",
      confirmed: inst.confirmed ?? true,
      track_id: inst.track_id ?? null,
    };
  });
  return { ...(doc || {}), instances };
}

/** The lowest free id of the form i1, i2, ... (ids only need to be unique within the item). */
export function newInstanceId(...docs) {
  const taken = new Set(docs.flatMap((d) => d.instances.map((inst) => inst.id)));
  let n = 1;
  while (taken.has(`i${n}`)) n++;
  return `i${n}`;
}

/** A fresh human instance with every keypoint not labeled. */
export function makeInstance(id, keypointCount) {
  return {
    id,
    keypoints: Array.from({ length: keypointCount }, () => [null, null, NOT_LABELED]),
    bbox: null,
    bbox_mode: "derived",
    source: "human",
    confirmed: true,
    track_id: null,
  };
}

/** The tight box [x, y, w, h] around the labeled keypoints, or null when none is labeled. */
export function deriveBbox(keypoints) {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const [x, y, v] of keypoints) {
    if (v <= 0) continue;
    minX = Math.min(minX, x);
    minY = Math.min(minY, y);
    maxX = Math.max(maxX, x);
    maxY = Math.max(maxY, y);
  }
  if (minX === Infinity) return null;
  return [minX, minY, maxX - minX, maxY - minY];
}

/** Keeps a derived box in step with the keypoints; a drawn box is left as drawn. */
function refreshBbox(inst) {
  if (inst.bbox_mode === "derived") inst.bbox = deriveBbox(inst.keypoints);
  return inst;
}

export function findInstance(doc, instanceId) {
  return doc.instances.find((inst) => inst.id === instanceId) || null;
}

/** Applies `change(instanceCopy)` to one instance of a copied document. */
function editInstance(doc, instanceId, change) {
  const out = cloneDocument(doc);
  const inst = findInstance(out, instanceId);
  if (!inst) throw new Error(`no instance ${instanceId} in this item`);
  change(inst);
  refreshBbox(inst);
  return out;
}

/** Places (or re-places) keypoint `index` at image point (x, y) with visibility v. */
export function setKeypoint(doc, instanceId, index, x, y, v = VISIBLE) {
  if (!Number.isFinite(x) || !Number.isFinite(y))
    throw new Error("keypoint position must be finite");
  return editInstance(doc, instanceId, (inst) => {
    inst.keypoints[index] = [x, y, v];
  });
}

/** Sets visibility; setting "not labeled" clears the position, as the document requires. */
export function setVisibility(doc, instanceId, index, v) {
  return editInstance(doc, instanceId, (inst) => {
    const [x, y] = inst.keypoints[index];
    if (v === NOT_LABELED || x === null) inst.keypoints[index] = [null, null, NOT_LABELED];
    else inst.keypoints[index] = [x, y, v];
  });
}

/** visible -> occluded -> not labeled; a not-labeled keypoint has no position to show, so it stays. */
export function nextVisibility(v) {
  if (v === VISIBLE) return OCCLUDED;
  if (v === OCCLUDED) return NOT_LABELED;
  return NOT_LABELED;
}

/**
 * Moves, rotates and scales a whole person: every labeled keypoint p becomes
 * c + scale * R(angle) * (p - c) + (dx, dy); a drawn box becomes the box around its
 * transformed corners (a derived one follows the keypoints).
 *
 * With `bounds` ({width, height} of the image) the person stays inside the image: a
 * scale is capped where the person would outgrow it, then the whole person is shifted
 * back in (its shape kept); only a person that cannot fit even so (a rotation of a wide
 * pose in a narrow image) has its outlying points pulled to the edge. A drawn box is
 * cut to the image.
 */
export function transformInstance(doc, instanceId, transform, bounds = null) {
  const { dx = 0, dy = 0, angle = 0, cx = 0, cy = 0 } = transform;
  let scale = transform.scale ?? 1;
  const mapWith = (s) => {
    const cos = Math.cos(angle) * s;
    const sin = Math.sin(angle) * s;
    return (x, y) => [cx + cos * (x - cx) - sin * (y - cy) + dx, cy + sin * (x - cx) + cos * (y - cy) + dy];
  };
  return editInstance(doc, instanceId, (inst) => {
    const labeled = inst.keypoints.filter(([, , v]) => v > 0);
    if (bounds && scale > 1 && labeled.length) {
      // the extent grows linearly with the scale: cap it where the person fills the image
      const unit = extent(labeled.map(([x, y]) => mapWith(1)(x, y)));
      const cap = Math.min(
        unit.w > 0 ? bounds.width / unit.w : Infinity,
        unit.h > 0 ? bounds.height / unit.h : Infinity,
      );
      scale = Math.max(1, Math.min(scale, cap));
    }
    const base = mapWith(scale);
    let shift = [0, 0];
    if (bounds && labeled.length) {
      const box = extent(labeled.map(([x, y]) => base(x, y)));
      shift = [inward(box.x, box.w, bounds.width), inward(box.y, box.h, bounds.height)];
    }
    const map = (x, y) => {
      const [mx, my] = base(x, y);
      return [mx + shift[0], my + shift[1]];
    };
    const keep = (x, y) => (bounds ? [clampTo(x, bounds.width), clampTo(y, bounds.height)] : [x, y]);
    inst.keypoints = inst.keypoints.map(([x, y, v]) => (v > 0 ? [...keep(...map(x, y)), v] : [x, y, v]));
    if (inst.bbox_mode === "drawn" && inst.bbox) {
      const [bx, by, bw, bh] = inst.bbox;
      const corners = [map(bx, by), map(bx + bw, by), map(bx, by + bh), map(bx + bw, by + bh)].map((c) => keep(...c));
      const xs = corners.map((c) => c[0]);
      const ys = corners.map((c) => c[1]);
      inst.bbox = [Math.min(...xs), Math.min(...ys), Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys)];
    }
  });
}

function extent(points) {
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const x = Math.min(...xs);
  const y = Math.min(...ys);
  return { x, y, w: Math.max(...xs) - x, h: Math.max(...ys) - y };
}

/** The shift that brings the span [start, start + size] inside [0, limit] (0 if it is). */
function inward(start, size, limit) {
  if (size > limit) return limit / 2 - (start + size / 2); // cannot fit: centre it
  if (start < 0) return -start;
  if (start + size > limit) return limit - (start + size);
  return 0;
}

function clampTo(value, limit) {
  return Math.min(limit, Math.max(0, value));
}

/** The box a person occupies: its box, else the box of its labeled keypoints (or null). */
export function instanceBox(inst) {
  return inst.bbox || deriveBbox(inst.keypoints);
}

export function addInstance(doc, inst) {
  const out = cloneDocument(doc);
  out.instances.push(refreshBbox(cloneDocument(inst)));
  return out;
}

export function removeInstance(doc, instanceId) {
  const out = cloneDocument(doc);
  out.instances = out.instances.filter((inst) => inst.id !== instanceId);
  return out;
}

/** A box drawn by hand; it stays put when keypoints move. */
export function setDrawnBbox(doc, instanceId, bbox) {
  return editInstance(doc, instanceId, (inst) => {
    inst.bbox = bbox;
    inst.bbox_mode = "drawn";
  });
}

/** Back to a box computed from the keypoints. */
export function setDerivedBbox(doc, instanceId) {
  return editInstance(doc, instanceId, (inst) => {
    inst.bbox_mode = "derived";
  });
}

/** Index of the first not-labeled keypoint strictly after `after` (-1: from the start), or null. */
export function nextUnlabeled(inst, after = -1) {
  for (let k = after + 1; k < inst.keypoints.length; k++) {
    if (inst.keypoints[k][2] === NOT_LABELED) return k;
  }
  return null;
}

export function labeledCount(inst) {
  return inst.keypoints.filter((kp) => kp[2] > 0).length;
}

const sameValue = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Replays the edits that turned `base` into `mine` onto `theirs` (the newer server
 * document), so re-applying after a conflict keeps both people's work:
 * instances I added are added (renamed if their id was taken meanwhile), instances I
 * deleted are deleted, and for instances I changed only the keypoints and fields I
 * changed are written over theirs. Where both changed the same keypoint, mine wins,
 * because the user asked to re-apply their changes. An instance they deleted but I
 * edited comes back (an edit is never dropped silently).
 *
 * Returns `{doc, renamed}`; `renamed` maps my instance ids that had to change.
 */
export function mergeMyChanges(base, mine, theirs) {
  const baseById = new Map(base.instances.map((inst) => [inst.id, inst]));
  const mineIds = new Set(mine.instances.map((inst) => inst.id));
  const out = cloneDocument(theirs);
  const renamed = new Map();
  out.instances = out.instances.filter((inst) => !(baseById.has(inst.id) && !mineIds.has(inst.id)));
  for (const inst of mine.instances) {
    const before = baseById.get(inst.id);
    const current = findInstance(out, inst.id);
    if (!before) {
      const added = cloneDocument(inst);
      if (current) {
        added.id = newInstanceId(out, mine);
        renamed.set(inst.id, added.id);
      }
      out.instances.push(added);
      continue;
    }
    if (sameValue(inst, before)) continue;
    if (!current) {
      out.instances.push(cloneDocument(inst));
      continue;
    }
    inst.keypoints.forEach((kp, k) => {
      if (!sameValue(kp, before.keypoints[k])) current.keypoints[k] = [...kp];
    });
    for (const field of ["bbox_mode", "bbox", "source", "confirmed", "track_id", "scores"]) {
      if (!sameValue(inst[field], before[field])) current[field] = structuredClone(inst[field]);
    }
    refreshBbox(current);
  }
  return { doc: out, renamed };
}
