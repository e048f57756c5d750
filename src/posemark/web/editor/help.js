// @ts-check
/**
 * The help overlay (?): every shortcut, generated from the same table the key
 * handler uses (keys.js), plus the mouse gestures.
 */

import { h } from "../dom.js";
import { MOUSE_GESTURES, SHORTCUTS } from "./keys.js";

function keyCaps(keys) {
  return keys.flatMap((combo, i) => [
    i > 0 ? h("span", { class: "or" }, "or") : null,
    ...combo
      .split(/\+(?!$)/)
      .flatMap((part, j) => [j > 0 ? "+" : null, h("kbd", {}, part === " " ? "Space" : part)]),
  ]);
}

export class HelpOverlay {
  /** @param {HTMLElement} container */
  constructor(container) {
    const groups = new Map();
    for (const shortcut of SHORTCUTS) {
      if (!groups.has(shortcut.group)) groups.set(shortcut.group, []);
      groups.get(shortcut.group).push(shortcut);
    }
    const closeButton = h(
      "button",
      {
        type: "button",
        class: "tool ghost",
        "aria-label": "Close help",
        onClick: () => this.hide(),
      },
      "✕",
    );
    this.root = h(
      "div",
      {
        class: "help-overlay",
        role: "dialog",
        "aria-modal": "true",
        "aria-labelledby": "help-title",
        hidden: true,
        onClick: (e) => {
          if (e.target === this.root) this.hide();
        },
      },
      h(
        "div",
        { class: "help-card" },
        h(
          "div",
          { class: "help-head" },
          h("h2", { id: "help-title" }, "Keyboard and mouse"),
          closeButton,
        ),
        h(
          "div",
          { class: "help-grid" },
          [...groups].map(([group, shortcuts]) =>
            h(
              "section",
              {},
              h("h3", {}, group),
              h(
                "dl",
                {},
                shortcuts.map((sc) => [
                  h("dt", { "data-action": sc.action }, keyCaps(sc.keys)),
                  h("dd", {}, sc.help),
                ]),
              ),
            ),
          ),
          h(
            "section",
            {},
            h("h3", {}, "Mouse"),
            h(
              "dl",
              {},
              MOUSE_GESTURES.map(([gesture, what]) => [
                h("dt", {}, h("kbd", {}, gesture)),
                h("dd", {}, what),
              ]),
            ),
          ),
        ),
      ),
    );
    this.closeButton = closeButton;
    container.append(this.root);
  }

  get visible() {
    return !this.root.hidden;
  }

  show() {
    this.returnFocus = /** @type {HTMLElement | SVGElement | null} */ (document.activeElement);
    this.root.hidden = false;
    this.closeButton.focus();
  }

  hide() {
    this.root.hidden = true;
    if (this.returnFocus && this.returnFocus.focus) this.returnFocus.focus();
  }

  toggle() {
    if (this.visible) this.hide();
    else this.show();
  }

  destroy() {
    this.root.remove();
  }
}
