// @ts-check
/**
 * Background operations (pre-label, predict, track, QA re-runs, imports, exports,
 * training) as the pages show them. They run in worker processes; their state is a row
 * on the server, so these components keep none of their own: on every load they ask the
 * server and, while an operation is queued or running, poll it. A reload, another
 * browser or another server process shows the same progress.
 *
 * `operationView(op, canCancel)` is one operation's progress bar, text and Cancel
 * button (reusable by any page); `operationsPanel(pid, canCancel, onFinished)` is the
 * project page's list of running operations.
 * Test hooks: `.operation[data-operation-state][data-operation-id]`, `progress.operation-bar`,
 * `.operation-cancel`, `#operations-panel[data-active]`.
 */

import { request } from "../api.js";
import { h, plural } from "../dom.js";

export const POLL_MS = 700;
export const ACTIVE = new Set(["queued", "running"]);

export function operationUrl(op) {
  return `/api/projects/${op.project_id}/operations/${op.id}`;
}

/** The one-line state of an operation, for any kind. */
export function describe(op) {
  const count = op.total == null ? `${op.done}` : `${op.done} / ${op.total}`;
  const note = op.note ? ` · ${op.note}` : "";
  if (op.state === "queued") return `${op.title}: waiting for a worker…${note}`;
  if (op.state === "running") {
    return `${op.title}: ${count}${note}${op.cancel_requested ? " · cancelling…" : ""}`;
  }
  if (op.state === "done") return `${op.title} done: ${count}${note}`;
  if (op.state === "cancelled") return `${op.title} cancelled: ${count}${note}`;
  return `${op.title} failed: ${op.error || "unknown error"}`;
}

/**
 * @param {object} op an operation as the API returns it
 * @param {boolean} canCancel
 * @param {(op: object) => string} [text] a kind's own summary (default: describe)
 * @returns {{element: HTMLElement, bar: HTMLProgressElement, text: HTMLElement,
 *   update: (op: object) => void}}
 */
export function operationView(op, canCancel, text = describe) {
  const bar = h("progress", { class: "operation-bar", max: 1, value: 0 });
  const label = h("span", { class: "operation-text", role: "status", "aria-live": "polite" });
  let current = op;
  const cancel = h(
    "button",
    { type: "button", class: "tool operation-cancel", hidden: true, onClick: () => cancelIt() },
    "Cancel",
  );
  const element = h("div", { class: "operation" }, bar, label, cancel);

  function update(next) {
    current = next;
    element.dataset.operationState = next.state;
    element.dataset.operationId = String(next.id);
    if (next.total == null) {
      bar.removeAttribute("value"); // indeterminate until the work knows its size
    } else {
      bar.max = Math.max(next.total, 1);
      bar.value = next.done;
    }
    label.textContent = text(next);
    cancel.hidden = !(canCancel && ACTIVE.has(next.state) && !next.cancel_requested);
  }

  async function cancelIt() {
    cancel.disabled = true;
    try {
      update(await request("POST", `${operationUrl(current)}/cancel`));
    } catch (err) {
      label.textContent = `Not cancelled: ${err.message}`;
    } finally {
      cancel.disabled = false;
    }
  }

  update(op);
  return { element, bar, text: label, update };
}

/**
 * Polls one operation until it ends; `onUpdate` gets every answer. Returns a stop function.
 * @param {{ id: number, project_id: number }} op
 * @param {(op: any) => void} onUpdate
 * @param {(err: any) => void} [onError]
 */
export function follow(op, onUpdate, onError = () => {}) {
  let timer = null;
  let stopped = false;
  async function poll() {
    if (stopped) return;
    try {
      const next = await request("GET", operationUrl(op));
      if (stopped) return;
      onUpdate(next);
      if (ACTIVE.has(next.state)) timer = setTimeout(poll, POLL_MS);
    } catch (err) {
      if (stopped) return;
      onError(err);
      timer = setTimeout(poll, POLL_MS);
    }
  }
  timer = setTimeout(poll, POLL_MS);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/**
 * A panel's view of one kind's latest operation (pre-label, train): loaded once, then
 * followed while it is queued or running. `render` gets every answer (null: none yet),
 * `onEnded` runs when a followed operation stops, `onError` gets a message to show.
 * @param {number} pid
 * @param {string} kind
 * @param {{render: (op: any, active: boolean) => void, onEnded: () => void,
 *   onError: (message: string) => void}} hooks
 * @returns {{show: (op: any) => void, load: () => Promise<void>, destroy: () => void}}
 */
export function latestOperation(pid, kind, hooks) {
  let stop = () => {};
  /** @type {any} */
  let op = null;
  let destroyed = false;
  function show(next) {
    const wasActive = Boolean(op) && ACTIVE.has(op.state);
    op = next;
    const active = Boolean(op) && ACTIVE.has(op.state);
    hooks.render(op, active);
    if (active) {
      stop();
      stop = follow(op, (latest) => !destroyed && show(latest), (err) => {
        hooks.onError(`Progress unavailable: ${err.message}`);
      });
    } else if (wasActive) hooks.onEnded();
  }
  async function load() {
    try {
      const answer = await request("GET", `/api/projects/${pid}/operations`, {
        query: { kind, limit: 1 },
      });
      if (!destroyed) show(answer.operations[0] || null);
    } catch (err) {
      hooks.onError(`Status unavailable: ${err.message}`);
    }
  }
  return {
    show,
    load,
    destroy() {
      destroyed = true;
      stop();
    },
  };
}

/**
 * The project page's "Running now" card: every queued or running operation of the
 * project with its progress and (for managers) Cancel; hidden while there is none.
 */
export function operationsPanel(pid, canCancel, onFinished) {
  let timer = null;
  let destroyed = false;
  const views = new Map();
  const list = h("div", { class: "operations-list" });
  const heading = h("h2", { class: "operations-title" }, "Running now");
  const element = h(
    "div",
    { class: "card operations-panel", id: "operations-panel", hidden: true, "data-active": "0" },
    heading,
    list,
  );

  async function load() {
    if (destroyed) return;
    let ops;
    try {
      ({ operations: ops } = await request("GET", `/api/projects/${pid}/operations`, {
        query: { active: true, limit: 50 },
      }));
    } catch {
      timer = setTimeout(load, POLL_MS * 3);
      return;
    }
    if (destroyed) return;
    const seen = new Set(ops.map((op) => op.id));
    let ended = false;
    for (const [id, view] of views) {
      if (!seen.has(id)) {
        view.element.remove();
        views.delete(id);
        ended = true;
      }
    }
    for (const op of ops) {
      let view = views.get(op.id);
      if (!view) {
        view = operationView(op, canCancel);
        views.set(op.id, view);
        list.append(view.element);
      }
      view.update(op);
    }
    element.hidden = ops.length === 0;
    element.dataset.active = String(ops.length);
    heading.textContent = ops.length ? `Running now: ${plural(ops.length, "operation")}` : "";
    if (ended) onFinished();
    timer = setTimeout(load, ops.length ? POLL_MS : POLL_MS * 4);
  }

  load();
  return {
    element,
    refresh: () => {
      clearTimeout(timer);
      load();
    },
    destroy() {
      destroyed = true;
      clearTimeout(timer);
    },
  };
}
