/**
 * The project page's "Train a model" panel: starts the `train` background operation (a
 * model learns the project's confirmed people, in the project's own skeleton), shows its
 * progress with the shared operation view (operations.js), and lists the trained
 * versions with their validation error and the one in use. A new version is put in use
 * only when its validation error beats the one in use; the result shows both figures.
 *
 * Like the pre-label panel it follows the project's latest train operation on load, so a
 * reload or another browser shows the same bar.
 * Test hooks: `#train-panel[data-operation-state][data-operation-id]`,
 * `progress#train-progress`, `#train-start`, `#train-minutes`, `#train-models li`.
 */

import { request } from "../api.js";
import { h } from "../dom.js";
import { latestOperation, operationView } from "./operations.js";

function px(value) {
  return value == null ? "n/a" : `${Number(value).toFixed(1)} px`;
}

function summary(op) {
  const r = op.result || {};
  if (op.state === "queued") return "Training is waiting for a worker…";
  if (op.state === "running") return `Training: ${op.done}% · ${op.note || ""}`;
  if (op.state === "done") {
    const before =
      r.previous_version == null
        ? "no model was in use"
        : `v${r.previous_version}: ${px(r.previous_validation_rmse)}`;
    const verdict = r.adopted ? "now in use" : "kept the better one in use";
    return `Trained v${r.version}: validation error ${px(r.validation_rmse)} (${before}); ${verdict}`;
  }
  if (op.state === "cancelled") return "Training cancelled";
  return `Training failed: ${op.error || "unknown error"}`;
}

/**
 * @param {number} pid
 * @param {boolean} canStart managers (and admins) may start and cancel
 * @param {() => void} onStarted tells the page a new operation exists
 * @returns {{element: HTMLElement, destroy: () => void}}
 */
export function trainPanel(pid, canStart, onStarted = () => {}) {
  const view = operationView(
    { id: 0, state: "none", done: 0, total: 100, title: "Train", project_id: pid },
    canStart,
    summary,
  );
  view.bar.id = "train-progress";
  const minutes = h("input", {
    type: "number",
    id: "train-minutes",
    min: "0.01",
    max: "120",
    step: "any",
    value: "15",
    title: "Minutes of training",
    hidden: !canStart,
  });
  const start = h(
    "button",
    {
      type: "button",
      class: "tool",
      id: "train-start",
      title: "Train a model on the confirmed people of this project (its own skeleton)",
      hidden: !canStart,
      onClick: () => startIt(),
    },
    "Train a model",
  );
  const models = h("ul", { id: "train-models", class: "train-models" });
  const element = h(
    "div",
    { class: "card train-panel", id: "train-panel", "data-operation-state": "none" },
    start,
    minutes,
    view.element,
    models,
  );

  async function loadModels() {
    try {
      const answer = await request("GET", `/api/projects/${pid}/models`);
      if (destroyed) return;
      models.replaceChildren(
        ...answer.models.map((m) =>
          h(
            "li",
            { "data-version": String(m.version), "data-in-use": String(Boolean(m.in_use)) },
            `v${m.version}: validation error ${px(m.validation && m.validation.rmse_px)}` +
              (m.in_use ? " (in use for Suggest and Pre-label)" : ""),
          ),
        ),
      );
    } catch (err) {
      models.replaceChildren(h("li", {}, `Models unavailable: ${err.message}`));
    }
  }

  let destroyed = false; // the models list must not be drawn into a page that left
  const latest = latestOperation(pid, "train", {
    render(op, active) {
      element.dataset.operationState = op ? op.state : "none";
      element.dataset.operationId = op ? String(op.id) : "";
      view.element.hidden = !op;
      if (op) view.update(op);
      start.disabled = active;
    },
    onEnded: () => loadModels(),
    onError(message) {
      view.text.textContent = message;
    },
  });
  const show = latest.show;

  async function startIt() {
    start.disabled = true;
    try {
      const body = { minutes: Number(minutes.value) };
      show(await request("POST", `/api/projects/${pid}/train`, { body }));
      onStarted();
    } catch (err) {
      start.disabled = false;
      element.dataset.operationState = "error";
      view.element.hidden = false;
      view.text.textContent = `Training not started: ${err.message}`;
    }
  }

  view.element.hidden = true;
  latest.load();
  loadModels();
  return {
    element,
    destroy() {
      destroyed = true;
      latest.destroy();
    },
  };
}
