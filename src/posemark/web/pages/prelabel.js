/**
 * The project page's "Pre-label project" panel: starts a batch pre-annotation job on the
 * server and shows its progress bar.
 *
 * The job runs on the server and its state is a database row, so this panel keeps no
 * state of its own: on every load it asks for the project's latest job and, while that
 * one is queued or running, polls it. A reload, or another browser, shows the same bar.
 * Test hooks: `#prelabel-panel[data-job-status]`, `progress#prelabel-progress`.
 */

import { request } from "../api.js";
import { h, plural } from "../dom.js";

const POLL_MS = 700;
const ACTIVE = new Set(["queued", "running"]);

function summary(job) {
  const counts =
    `${job.done} / ${plural(job.total, "item")} · ${plural(job.instances, "person")} suggested` +
    (job.skipped ? ` · ${job.skipped} skipped (already annotated)` : "");
  if (job.status === "queued") return "Pre-labelling is about to start…";
  if (job.status === "running") return `Pre-labelling: ${counts}`;
  if (job.status === "done") return `Pre-labelled: ${counts}`;
  if (job.status === "cancelled") return `Pre-labelling cancelled: ${counts}`;
  return `Pre-labelling failed: ${job.error || "unknown error"} (${counts})`;
}

/**
 * @param {number} pid
 * @param {boolean} canStart managers (and admins) may start and cancel jobs
 * @param {() => Promise<void>} onFinished refreshes the items list when a job ends
 * @returns {{element: HTMLElement, destroy: () => void}}
 */
export function prelabelPanel(pid, canStart, onFinished) {
  let timer = null;
  let job = null;
  let destroyed = false;
  const base = `/api/projects/${pid}/prelabel`;

  const bar = h("progress", { id: "prelabel-progress", max: 1, value: 0, hidden: true });
  const text = h("span", { class: "prelabel-text", role: "status", "aria-live": "polite" });
  const start = h(
    "button",
    {
      type: "button",
      class: "tool",
      id: "prelabel-start",
      title: "The pose model suggests people on every item nobody has annotated yet",
      hidden: !canStart,
      onClick: () => startJob(),
    },
    "Pre-label project",
  );
  const cancel = h(
    "button",
    {
      type: "button",
      class: "tool",
      id: "prelabel-cancel",
      hidden: true,
      onClick: () => cancelJob(),
    },
    "Cancel",
  );
  const confirmedOnly = h(
    "a",
    {
      class: "tool small",
      id: "export-coco-confirmed",
      href: `/api/projects/${pid}/export?format=coco&exclude_unconfirmed=true`,
      download: `project-${pid}-confirmed.coco.json`,
      title: "COCO export without the suggestions nobody confirmed yet",
    },
    "Export confirmed only",
  );
  const element = h(
    "div",
    { class: "card prelabel-panel", id: "prelabel-panel", "data-job-status": "none" },
    start,
    bar,
    text,
    cancel,
    confirmedOnly,
  );

  function show(next) {
    const wasActive = job && ACTIVE.has(job.status);
    job = next;
    const active = Boolean(job) && ACTIVE.has(job.status);
    element.dataset.jobStatus = job ? job.status : "none";
    element.dataset.jobId = job ? String(job.id) : "";
    bar.hidden = !job;
    if (job) {
      bar.max = Math.max(job.total, 1);
      bar.value = job.done;
      text.textContent = summary(job);
    } else {
      text.textContent = canStart ? "" : "No pre-labelling has run on this project.";
    }
    start.disabled = active;
    cancel.hidden = !(active && canStart);
    if (active) schedule();
    else if (wasActive) onFinished();
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    if (destroyed || !job) return;
    try {
      const latest = await request("GET", `${base}/jobs/${job.id}`);
      if (!destroyed) show(latest);
    } catch (err) {
      if (destroyed) return;
      text.textContent = `Progress unavailable: ${err.message}`;
      schedule();
    }
  }

  async function load() {
    try {
      const answer = await request("GET", `${base}/jobs`, { query: { limit: 1 } });
      if (!destroyed) show(answer.jobs[0] || null);
    } catch (err) {
      text.textContent = `Pre-labelling status unavailable: ${err.message}`;
    }
  }

  async function startJob() {
    start.disabled = true;
    try {
      show(await request("POST", base, { body: {} }));
    } catch (err) {
      start.disabled = false;
      element.dataset.jobStatus = "error";
      text.textContent = `Pre-labelling not started: ${err.message}`;
    }
  }

  async function cancelJob() {
    if (!job) return;
    try {
      show(await request("POST", `${base}/jobs/${job.id}/cancel`));
    } catch (err) {
      text.textContent = `Not cancelled: ${err.message}`;
    }
  }

  load();
  return {
    element,
    destroy() {
      destroyed = true;
      clearTimeout(timer);
    },
  };
}
