// @ts-check
/**
 * Tiny DOM builders. Pages build their markup with these instead of innerHTML so
 * that file names and server messages are always inserted as text, never as HTML.
 */

const SVG_NS = "http://www.w3.org/2000/svg";

function applyAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      el.setAttribute("class", value);
    } else if (key === "dataset") {
      for (const [dk, dv] of Object.entries(value)) el.dataset[dk] = dv;
    } else if (key === "text") {
      el.textContent = value;
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An HTML element: h("button", {class: "btn", onClick: fn}, "Save"). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

/** An SVG element (attributes set verbatim, numbers included). */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

/** Replaces all children of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A button that does not take focus on mouse click, so editor shortcuts keep working. */
export function toolButton(label, title, onClick, attrs = {}) {
  return h(
    "button",
    {
      type: "button",
      class: `tool ${attrs.class || ""}`.trim(),
      title,
      "aria-label": attrs["aria-label"] || title,
      onMousedown: (e) => e.preventDefault(),
      onClick,
      ...Object.fromEntries(Object.entries(attrs).filter(([k]) => k !== "class")),
    },
    label,
  );
}

/** "1 item", "3 items". */
export function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}
