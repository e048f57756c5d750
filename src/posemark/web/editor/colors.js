// @ts-check
/**
 * Colours of the overlay. Two independent codes, chosen so they never collide:
 * - each instance (person) gets its own colour for edges, box and list swatch;
 * - each keypoint is filled by its body side (left / right / centre), the colour
 *   pair pose annotators use to catch left/right swaps at a glance.
 * The instance palette avoids the blue and orange hues of the side code.
 */

export const SIDE_COLORS = {
  left: "#38bdf8",
  right: "#fb923c",
  center: "#f8fafc",
};

const INSTANCE_PALETTE = [
  "#e879f9",
  "#facc15",
  "#4ade80",
  "#f87171",
  "#a78bfa",
  "#2dd4bf",
  "#fda4af",
  "#bef264",
  "#c084fc",
  "#fcd34d",
];

/**
 * The colour of an instance, derived from its id so it stays the same when other
 * instances are added or deleted (i1 -> first colour, i2 -> second, ...).
 */
export function instanceColor(instanceId) {
  const digits = /(\d+)$/.exec(instanceId);
  let n;
  if (digits) {
    n = Number(digits[1]) - 1;
  } else {
    n = 0;
    for (const ch of instanceId) n = (n * 31 + ch.charCodeAt(0)) >>> 0;
  }
  return INSTANCE_PALETTE[Math.abs(n) % INSTANCE_PALETTE.length];
}

/** One colour per track id, the same on every frame of the video (track 1 -> first). */
export function trackColor(trackId) {
  const n = Math.abs(Number(trackId)) || 0;
  return INSTANCE_PALETTE[(n + INSTANCE_PALETTE.length - 1) % INSTANCE_PALETTE.length];
}

export function sideColor(side) {
  return SIDE_COLORS[side] || SIDE_COLORS.center;
}
