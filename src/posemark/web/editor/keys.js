// @ts-check
/**
 * Keyboard shortcuts: one table that both the key handler and the help overlay read,
 * so the help can never list a shortcut that does not exist (or miss one that does).
 *
 * A key is written as the KeyboardEvent.key value, with "Ctrl+" / "Shift+" prefixes.
 * Ctrl also matches Cmd on macOS. Shift only matters for letters: punctuation such
 * as "?" or "+" needs Shift on some layouts and not on others.
 */

export const SHORTCUTS = [
  {
    group: "Keypoints",
    action: "skip",
    keys: ["S", "Tab"],
    help: "Skip the next keypoint (leave it not labeled)",
  },
  {
    group: "Keypoints",
    action: "cycleVisibility",
    keys: ["V"],
    help: "Selected keypoint: visible → occluded → not labeled",
  },
  {
    group: "Keypoints",
    action: "estimateHidden",
    keys: ["E"],
    help: "Propose where the selected (or next) hidden keypoint is",
  },
  {
    group: "Keypoints",
    action: "acceptProposal",
    keys: ["Enter"],
    help: "Accept the proposed position (flagged occluded)",
  },
  {
    group: "Instances",
    action: "newInstance",
    keys: ["N"],
    help: "New instance (person): clicks then place its keypoints in order",
  },
  {
    group: "Instances",
    action: "confirmInstance",
    keys: ["C"],
    help: "Confirm the selected model suggestion (moving a keypoint confirms that keypoint)",
  },
  {
    group: "Instances",
    action: "copyInstance",
    keys: ["Ctrl+C"],
    help: "Copy the selected person",
  },
  {
    group: "Instances",
    action: "pasteInstance",
    keys: ["Ctrl+V"],
    help: "Paste the copied person (into this item or another one of the project)",
  },
  {
    group: "Instances",
    action: "deleteInstance",
    keys: ["Delete", "Backspace"],
    help: "Delete the selected instance",
  },
  {
    group: "Instances",
    action: "previousInstance",
    keys: ["["],
    help: "Select the previous instance",
  },
  { group: "Instances", action: "nextInstance", keys: ["]"], help: "Select the next instance" },
  {
    group: "Instances",
    action: "armBox",
    keys: ["B"],
    help: "B then drag: draw the instance's bounding box",
  },
  { group: "Edit", action: "undo", keys: ["Ctrl+Z"], help: "Undo" },
  { group: "Edit", action: "redo", keys: ["Ctrl+Shift+Z", "Ctrl+Y"], help: "Redo" },
  { group: "View", action: "fit", keys: ["F"], help: "Fit the image to the screen" },
  {
    group: "View",
    action: "actualSize",
    keys: ["1"],
    help: "Zoom 1:1 (one image pixel per screen pixel)",
  },
  { group: "View", action: "zoomIn", keys: ["+", "="], help: "Zoom in" },
  { group: "View", action: "zoomOut", keys: ["-"], help: "Zoom out" },
  { group: "View", action: "toggleLoupe", keys: ["L"], help: "Loupe (magnifier) on/off" },
  { group: "Items", action: "nextItem", keys: ["."], help: "Next item" },
  { group: "Items", action: "previousItem", keys: [","], help: "Previous item" },
  {
    group: "Items",
    action: "toggleDone",
    keys: ["D"],
    help: "Next step of the review: submit (a new item too), claim or accept (as your role allows)",
  },
  { group: "Video", action: "playPause", keys: ["K"], help: "Play / pause the video" },
  {
    group: "Video",
    action: "previousFrame",
    keys: ["Alt+ArrowLeft"],
    help: "Previous frame (also ,)",
  },
  { group: "Video", action: "nextFrame", keys: ["Alt+ArrowRight"], help: "Next frame (also .)" },
  { group: "Video", action: "back10Frames", keys: ["<"], help: "Back 10 frames (Shift+,)" },
  { group: "Video", action: "forward10Frames", keys: [">"], help: "Forward 10 frames (Shift+.)" },
  { group: "Video", action: "newTrack", keys: ["T"], help: "Selected instance: a new track id" },
  {
    group: "Video",
    action: "interpolateTrack",
    keys: ["I"],
    help: "Interpolate the selected track between its keyframes",
  },
  {
    group: "Video",
    action: "propagateTrack",
    keys: ["P"],
    help: "Propagate the selected track by optical flow (frames set in the panel)",
  },
  { group: "Help", action: "help", keys: ["?"], help: "Show or hide this help" },
  {
    group: "Help",
    action: "escape",
    keys: ["Escape"],
    help: "One thing back at a time: close help, cancel a drag or box, dismiss a proposal, stop placing, deselect",
  },
];

/** Mouse gestures, listed in the help next to the keys. */
export const MOUSE_GESTURES = [
  [
    "Click",
    "While placing (after N or a click on a keypoint's row): place the next keypoint; otherwise a click on the background deselects",
  ],
  ["Drag a keypoint", "Move that keypoint (only that one)"],
  [
    "Drag a person's handles",
    "Outside its box: the square at the top left moves the whole person, the circle above rotates it, the square at the bottom right scales it",
  ],
  [
    "Click a keypoint",
    "Select it and its instance (while placing, another person's keypoint does not stop the click)",
  ],
  ["Drag the background", "Pan (also Space + drag, or the middle button)"],
  ["Wheel", "Zoom around the cursor"],
];

function parseCombo(combo) {
  const [, prefix, key] = /^((?:(?:Ctrl|Shift|Alt)\+)*)(.+)$/.exec(combo);
  const mods = prefix.toLowerCase();
  return {
    key: key.toLowerCase(),
    ctrl: mods.includes("ctrl"),
    shift: mods.includes("shift"),
    alt: mods.includes("alt"),
  };
}

/** Actions that may auto-repeat while the key is held; others fire once per press. */
const REPEATABLE = new Set([
  "undo",
  "redo",
  "zoomIn",
  "zoomOut",
  "nextItem",
  "previousItem",
  "previousFrame",
  "nextFrame",
]);

const PARSED = SHORTCUTS.map((shortcut) => ({
  ...shortcut,
  combos: shortcut.keys.map(parseCombo),
}));

/** The action for a key event, or null. */
export function actionFor(event) {
  const key = event.key.toLowerCase();
  const ctrl = event.ctrlKey || event.metaKey;
  for (const shortcut of PARSED) {
    for (const combo of shortcut.combos) {
      if (combo.key !== key || combo.ctrl !== ctrl || combo.alt !== event.altKey) continue;
      const isLetter = /^[a-z]$/.test(key);
      if (isLetter && combo.shift !== event.shiftKey) continue;
      return shortcut.action;
    }
  }
  return null;
}

/** Keys typed into form fields are text, not commands. */
function isTyping(target) {
  return Boolean(
    target && target.closest && target.closest("input, textarea, select, [contenteditable]"),
  );
}

/**
 * Listens on the window and calls `handlers[action](event)`. Tab and Space act as
 * shortcuts only while focus is not on a control, so keyboard users can still move
 * between and press buttons. Space is tracked as held/released for Space+drag.
 * Returns a function that removes the listeners.
 */
export function bindShortcuts(handlers, { onSpace }) {
  const onControl = (target) =>
    Boolean(target && target.closest && target.closest("button, a, [role=button]"));
  const keydown = (event) => {
    if (isTyping(event.target)) return;
    if (event.key === " ") {
      if (onControl(event.target)) return;
      event.preventDefault();
      if (!event.repeat) onSpace(true);
      return;
    }
    if (event.key === "Tab" && (onControl(event.target) || event.shiftKey)) return;
    if (event.key === "Enter" && onControl(event.target)) return;
    const action = actionFor(event);
    if (!action || !handlers[action]) return;
    event.preventDefault();
    if (event.repeat && !REPEATABLE.has(action)) return;
    handlers[action](event);
  };
  const keyup = (event) => {
    if (event.key === " ") onSpace(false);
  };
  const blur = () => onSpace(false);
  window.addEventListener("keydown", keydown);
  window.addEventListener("keyup", keyup);
  window.addEventListener("blur", blur);
  return () => {
    window.removeEventListener("keydown", keydown);
    window.removeEventListener("keyup", keyup);
    window.removeEventListener("blur", blur);
  };
}
