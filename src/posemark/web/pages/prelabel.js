// @ts-check
/**
 * The project page's "Pre-label project" panel: starts the `prelabel` background
 * operation (a worker process suggests people on every item nobody has annotated yet)
 * and shows its progress with the shared operation view (operations.js).
 *
 * On every load it asks for the project's latest pre-label operation and, while that
 * one is queued or running, follows it: a reload, or another browser, shows the same bar.
 * Test hooks: `#prelabel-panel[data-operation-state][data-operation-id]`,
 * `progress#prelabel-progress`, `.prelabel-text`.
 */

import { request } from "../api.js";
import { h, plural } from "../dom.js";
import { latestOperation, operationView } from "./operations.js";

function summary(op) {
  const r = op.result || {};
  const people = r.instances == null ? op.note : `${plural(r.instances, "person")} suggested`;
  const counts =
    `${op.done} / ${plural(op.total ?? 0, "item")}` +
    (people ? ` · ${people}` : "") +
    (r.skipped ? ` · ${r.skipped} skipped (already annotated)` : "");
  if (op.state === "queued") return "Pre-labelling is waiting for a worker…";
  if (op.state === "running") return `Pre-labelling: ${counts}`;
  if (op.state === "done") return `Pre-labelled: ${counts}`;
  if (op.state === "cancelled") return `Pre-labelling cancelled: ${counts}`;
  return `Pre-labelling failed: ${op.error || "unknown error"} (${counts})`;
}

/**
 * @param {number} pid
 * @param {boolean} canStart managers (and admins) may start and cancel
 * @param {() => Promise<void>} onFinished refreshes the items list when it ends
 * @param {() => void} onStarted tells the page a new operation exists
 * @returns {{element: HTMLElement, destroy: () => void}}
 */
export function prelabelPanel(pid, canStart, onFinished, onStarted = () => {}) {
  const view = operationView(
    { id: 0, state: "none", done: 0, total: 1, title: "Pre-label", project_id: pid },
    canStart,
    summary,
  );
  view.bar.id = "prelabel-progress";
  view.text.classList.add("prelabel-text");
  const start = h(
    "button",
    {
      type: "button",
      class: "tool",
      id: "prelabel-start",
      title: "The pose model suggests people on every item nobody has annotated yet",
      hidden: !canStart,
      onClick: () => startIt(),
    },
    "Pre-label project",
  );
  const element = h(
    "div",
    { class: "card prelabel-panel", id: "prelabel-panel", "data-operation-state": "none" },
    start,
    view.element,
  );

  const latest = latestOperation(pid, "prelabel", {
    render(op, active) {
      element.dataset.operationState = op ? op.state : "none";
      element.dataset.operationId = op ? String(op.id) : "";
      view.element.hidden = !op;
      if (op) view.update(op);
      else view.text.textContent = canStart ? "" : "No pre-labelling has run on this project.";
      start.disabled = active;
    },
    onEnded: () => onFinished(),
    onError(message) {
      view.text.textContent = message;
    },
  });
  const show = latest.show;

  async function startIt() {
    start.disabled = true;
    try {
      show(await request("POST", `/api/projects/${pid}/prelabel`, { body: {} }));
      onStarted();
    } catch (err) {
      start.disabled = false;
      element.dataset.operationState = "error";
      view.element.hidden = false;
      view.text.textContent = `Pre-labelling not started: ${err.message}`;
    }
  }

  view.element.hidden = true;
  latest.load();
  return {
    element,
    destroy: latest.destroy,
  };
}
