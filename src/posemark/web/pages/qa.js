// @ts-check
/**
 * A project's QA page (#/projects/{pid}/qa): the automated checks' kept findings, counted
 * per check and severity by the server, and a table of one page of them at a time, each
 * linking to its item in the editor. Info findings (harmless things the data earns
 * routinely) are hidden unless asked for. Nothing here grows with the project: the
 * counts come from the server and the table pages through the server's list.
 */

import { api, request } from "../api.js";
import { h, mount, plural } from "../dom.js";
import { ACTIVE, follow, operationView } from "./operations.js";

const SEVERITIES = ["error", "warning", "info"];
const PAGE_SIZE = 100;

export async function qaPage(root, { pid }, app) {
  const project = await api.project(pid);
  app.setCrumbs([
    { label: "Projects", href: "#/projects" },
    { label: project.name, href: `#/projects/${pid}` },
    { label: "QA" },
  ]);
  // pages: the cursor (null for the first) and first row of each page so far, for "Previous"
  const FIRST = [{ cursor: null, start: 0 }];
  const state = { check: null, showInfo: false, pages: FIRST, counts: {}, sequence: 0 };
  const summary = h("table", { class: "qa-summary", "aria-label": "Findings per check" });
  const table = h("table", { class: "qa-findings", "aria-label": "Findings" });
  const note = h("p", { class: "muted" });
  const pager = h("div", { class: "pager qa-pager" });
  const infoToggle = h("input", {
    type: "checkbox",
    id: "qa-show-info",
    onChange: () => {
      state.showInfo = infoToggle.checked;
      state.pages = FIRST;
      load();
    },
  });
  const rerun = rerunPanel(pid, project.role === "manager", () => load());
  mount(
    root,
    h(
      "section",
      { class: "page qa-page", "data-project-id": pid },
      h("h1", {}, `QA findings: ${project.name}`),
      note,
      rerun.element,
      h("label", { class: "qa-info-toggle" }, infoToggle, " show info findings"),
      summary,
      table,
      pager,
    ),
  );
  mount(note, "Reading the findings…");

  function shownSeverities() {
    return state.showInfo ? SEVERITIES : SEVERITIES.filter((s) => s !== "info");
  }

  async function load() {
    const sequence = ++state.sequence;
    const { cursor } = state.pages[state.pages.length - 1];
    const answer = await request("GET", `/api/projects/${pid}/qa`, {
      query: {
        check: state.check,
        severity: shownSeverities().join(","),
        limit: PAGE_SIZE,
        cursor,
      },
    });
    if (sequence !== state.sequence) return; // a newer request answers instead
    state.counts = answer.severity_counts;
    render(answer);
  }

  function renderSummary() {
    const severities = shownSeverities();
    const checks = Object.keys(state.counts)
      .filter((check) => severities.some((s) => state.counts[check][s]))
      .sort();
    mount(
      summary,
      h("thead", {}, h("tr", {}, h("th", {}, "check"), SEVERITIES.map((s) => h("th", {}, s)))),
      h(
        "tbody",
        {},
        checks.map((check) =>
          h(
            "tr",
            {
              class: `qa-check${state.check === check ? " active" : ""}`,
              "data-check": check,
              onClick: () => {
                state.check = state.check === check ? null : check;
                state.pages = FIRST;
                load();
              },
            },
            h("td", {}, h("button", { type: "button", class: "link" }, check.replaceAll("_", " "))),
            SEVERITIES.map((sev) =>
              h(
                "td",
                { class: "num", "data-severity": sev },
                String(severities.includes(sev) ? state.counts[check][sev] || 0 : 0),
              ),
            ),
          ),
        ),
      ),
    );
  }

  function render(answer) {
    renderSummary();
    const first = state.pages[state.pages.length - 1].start;
    const shown = answer.findings.length;
    const stale = answer.stale ? " The QA settings changed since the checks ran: re-run them." : "";
    const filling = answer.state === "filling" ? " The checks are still running over the project." : "";
    const waiting = answer.awaiting_refresh
      ? ` ${plural(answer.awaiting_refresh, "item")} written by an import await their QA refresh: their findings are not counted until it ends.`
      : "";
    mount(
      note,
      `${plural(answer.total, "finding")}${state.check ? ` of ${state.check}` : ""}` +
        (shown ? `, ${first + 1}–${first + shown} shown.` : ".") +
        " Click a check to list only its findings." +
        stale +
        filling +
        waiting,
    );
    mount(
      table,
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["check", "severity", "item", "instance", "keypoint", "message"].map((c) =>
            h("th", {}, c),
          ),
        ),
      ),
      h(
        "tbody",
        {},
        answer.findings.map((f) =>
          h(
            "tr",
            { class: `qa-finding ${f.severity}`, "data-check": f.check, "data-item-id": f.item_id },
            h("td", {}, f.check.replaceAll("_", " ")),
            h("td", { class: `severity ${f.severity}` }, f.severity),
            h("td", {}, h("a", { href: `#/items/${f.item_id}` }, f.file_name || `item ${f.item_id}`)),
            h("td", {}, f.instance_id || ""),
            h("td", {}, f.keypoint || ""),
            h("td", {}, f.message),
          ),
        ),
      ),
    );
    mount(
      pager,
      h(
        "button",
        {
          type: "button",
          class: "qa-prev",
          disabled: state.pages.length === 1,
          onClick: () => {
            state.pages = state.pages.slice(0, -1);
            load();
          },
        },
        "‹ Previous",
      ),
      h(
        "button",
        {
          type: "button",
          class: "qa-next",
          disabled: !answer.next_cursor,
          onClick: () => {
            state.pages = [...state.pages, { cursor: answer.next_cursor, start: first + shown }];
            load();
          },
        },
        "Next ›",
      ),
    );
  }

  await load();
  return { destroy: () => rerun.destroy() };
}

/**
 * The project-wide re-run (the `qa-rerun` background operation): a manager's button,
 * and the latest re-run's progress, asked for on every load and followed while it is
 * queued or running (so a reload shows the same bar); the findings are read again when
 * it ends. Test hooks: `#qa-rerun-panel[data-operation-state]`, `#qa-rerun`.
 */
function rerunPanel(pid, canStart, onFinished) {
  let stop = () => {};
  let destroyed = false;
  let last = null;
  const view = operationView(
    { id: 0, state: "none", done: 0, total: 1, title: "QA re-run", project_id: pid },
    canStart,
  );
  view.element.hidden = true;
  const button = h(
    "button",
    {
      type: "button",
      class: "tool",
      id: "qa-rerun",
      hidden: !canStart,
      title: "Learn the body prior again and re-check every item (after new QA settings)",
      onClick: () => startIt(),
    },
    "Re-run checks",
  );
  const element = h(
    "div",
    { class: "qa-rerun-panel", id: "qa-rerun-panel", "data-operation-state": "none" },
    button,
    view.element,
  );

  function show(op) {
    const wasActive = last && ACTIVE.has(last.state);
    last = op;
    element.dataset.operationState = op ? op.state : "none";
    view.element.hidden = !op;
    if (!op) return;
    view.update(op);
    const active = ACTIVE.has(op.state);
    button.disabled = active;
    if (active) {
      stop();
      stop = follow(op, (latest) => !destroyed && show(latest));
    } else if (wasActive) onFinished();
  }

  async function startIt() {
    button.disabled = true;
    try {
      show(await request("POST", `/api/projects/${pid}/qa/rerun`));
    } catch (err) {
      button.disabled = false;
      view.element.hidden = false;
      view.text.textContent = `Re-run not started: ${err.message}`;
    }
  }

  request("GET", `/api/projects/${pid}/operations`, { query: { kind: "qa-rerun", limit: 1 } })
    .then((answer) => !destroyed && show(answer.operations[0] || null))
    .catch(() => {});
  return {
    element,
    destroy() {
      destroyed = true;
      stop();
    },
  };
}
