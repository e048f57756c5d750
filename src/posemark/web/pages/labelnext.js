// @ts-check
/**
 * The project page's "Label next" panel: orders the project's unlabeled items by what
 * helps its model most (the `label-next` background operation: the trained model's
 * uncertainty and image diversity, or diversity alone while no model is trained), for
 * the editor's Label next mode. Follows the latest ordering like the Train panel.
 * Test hooks: `#label-next-panel[data-operation-state][data-operation-id]`,
 * `#label-next-start`.
 */

import { request } from "../api.js";
import { h } from "../dom.js";
import { latestOperation, operationView } from "./operations.js";

function summary(op) {
  const r = op.result || {};
  if (op.state === "queued") return "Ordering is waiting for a worker…";
  if (op.state === "running") return `Ordering: ${op.done}% · ${op.note || ""}`;
  if (op.state === "done") {
    const basis =
      r.basis === "diversity"
        ? "by image diversity only (no trained model yet: train one for uncertainty)"
        : `by the uncertainty of model ${String(r.basis).replace("model:", "")} and image diversity`;
    return `Queued ${r.queued} of ${r.unlabeled} unlabeled items ${basis}. Turn on "Label next" in the editor to follow it.`;
  }
  if (op.state === "cancelled") return "Ordering cancelled: the queue is unchanged";
  return `Ordering failed: ${op.error || "unknown error"}`;
}

/**
 * @param {number} pid
 * @param {boolean} canStart managers (and admins) may order the queue
 * @param {() => void} onStarted tells the page a new operation exists
 * @returns {{element: HTMLElement, destroy: () => void}}
 */
export function labelNextPanel(pid, canStart, onStarted = () => {}) {
  const view = operationView(
    { id: 0, state: "none", done: 0, total: 100, title: "Label next", project_id: pid },
    canStart,
    summary,
  );
  const start = h(
    "button",
    {
      type: "button",
      class: "tool",
      id: "label-next-start",
      title: "Order the unlabeled items by what helps the project's model most",
      hidden: !canStart,
      onClick: () => startIt(),
    },
    "Order Label next queue",
  );
  const element = h(
    "div",
    { class: "card label-next-panel", id: "label-next-panel", "data-operation-state": "none" },
    start,
    view.element,
  );
  const latest = latestOperation(pid, "label-next", {
    render(op, active) {
      element.dataset.operationState = op ? op.state : "none";
      element.dataset.operationId = op ? String(op.id) : "";
      view.element.hidden = !op;
      if (op) view.update(op);
      start.disabled = active;
    },
    onEnded: () => {},
    onError(message) {
      view.text.textContent = message;
    },
  });

  async function startIt() {
    start.disabled = true;
    try {
      latest.show(await request("POST", `/api/projects/${pid}/label-next`, { body: {} }));
      onStarted();
    } catch (err) {
      start.disabled = false;
      element.dataset.operationState = "error";
      view.element.hidden = false;
      view.text.textContent = `Ordering not started: ${err.message}`;
    }
  }

  view.element.hidden = true;
  latest.load();
  return { element, destroy: () => latest.destroy() };
}
