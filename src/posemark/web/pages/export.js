/**
 * The project page's export control: the format, an Export button that starts the
 * `export` background operation (a worker writes the file, whatever the project's
 * size), its progress, and a download link to the file once it is done (followed at
 * once, so the download starts by itself).
 *
 * On every load it asks for the project's latest export: while that one is queued or
 * running it is followed, once done its link is shown; a reload keeps both.
 * Test hooks: `#export-coco` (the button), `#export-format`, `#export-confirmed-only`,
 * `#export-panel[data-operation-state][data-operation-id]`, `a#export-download`.
 */

import { request } from "../api.js";
import { h } from "../dom.js";
import { ACTIVE, follow, operationView } from "./operations.js";

function summary(op) {
  const r = op.result || {};
  if (op.state === "queued") return "Export is waiting for a worker…";
  if (op.state === "running") return `Exporting: ${op.done} / ${op.total ?? "?"}`;
  if (op.state === "done") {
    return `Exported ${r.images ?? 0} images and ${r.instances ?? 0} instances (${r.format}).`;
  }
  if (op.state === "cancelled") return "Export cancelled; nothing was written.";
  return `Export failed: ${op.error || "unknown error"}`;
}

/**
 * @param {number} pid
 * @param {string[]} formats the formats the server writes
 * @returns {{element: HTMLElement, formatSelect: HTMLSelectElement, destroy: () => void}}
 */
export function exportControl(pid, formats) {
  let stop = () => {};
  let destroyed = false;
  let startedHere = false;
  const select = h(
    "select",
    { id: "export-format", "aria-label": "Export format" },
    ...formats.map((f) => h("option", { value: f }, f)),
  );
  const confirmedOnly = h("input", { type: "checkbox", id: "export-confirmed-only" });
  const button = h(
    "button",
    { type: "button", class: "tool", id: "export-coco", onClick: () => startIt() },
    "Export",
  );
  const link = h("a", { class: "tool small", id: "export-download", hidden: true }, "Download");
  const view = operationView(
    { id: 0, state: "none", done: 0, total: 1, title: "Export", project_id: pid },
    true,
    summary,
  );
  view.element.hidden = true;
  const element = h(
    "span",
    { class: "export-control", id: "export-panel", "data-operation-state": "none" },
    select,
    h(
      "label",
      { class: "small", title: "Leave out model suggestions nobody confirmed" },
      confirmedOnly,
      " confirmed only",
    ),
    button,
    link,
    view.element,
  );

  function show(op) {
    element.dataset.operationState = op ? op.state : "none";
    element.dataset.operationId = op ? String(op.id) : "";
    view.element.hidden = !op;
    if (!op) return;
    view.update(op);
    const active = ACTIVE.has(op.state);
    button.disabled = active;
    link.hidden = op.state !== "done";
    if (op.state === "done") {
      link.href = `/api/projects/${pid}/operations/${op.id}/file`;
      link.download = (op.result && op.result.file) || "";
      link.textContent = `Download ${link.download}`;
      if (startedHere) {
        startedHere = false;
        link.click(); // the download the button asked for
      }
    }
    if (active) {
      stop();
      stop = follow(op, (latest) => !destroyed && show(latest), (err) => {
        view.text.textContent = `Progress unavailable: ${err.message}`;
      });
    }
  }

  async function startIt() {
    button.disabled = true;
    try {
      const op = await request("POST", `/api/projects/${pid}/exports`, {
        body: { format: select.value, exclude_unconfirmed: confirmedOnly.checked },
      });
      startedHere = true;
      show(op);
    } catch (err) {
      button.disabled = false;
      element.dataset.operationState = "error";
      view.element.hidden = false;
      view.text.textContent = `Export not started: ${err.message}`;
    }
  }

  async function load() {
    try {
      const answer = await request("GET", `/api/projects/${pid}/operations`, {
        query: { kind: "export", limit: 1 },
      });
      if (!destroyed) show(answer.operations[0] || null);
    } catch {
      // no export shown: the button still works
    }
  }

  load();
  return {
    element,
    formatSelect: select,
    destroy() {
      destroyed = true;
      stop();
    },
  };
}
