/**
 * A project's QA page (#/projects/{pid}/qa): the automated checks' findings, counted
 * per check and severity, and a table linking each finding to its item in the editor.
 * Info findings (harmless things the data earns routinely) are hidden unless asked for.
 */

import { api, request } from "../api.js";
import { h, mount, plural } from "../dom.js";

const SEVERITIES = ["error", "warning", "info"];

export async function qaPage(root, { pid }, app) {
  const project = await api.project(pid);
  app.setCrumbs([
    { label: "Projects", href: "#/projects" },
    { label: project.name, href: `#/projects/${pid}` },
    { label: "QA" },
  ]);
  const state = { check: null, showInfo: false };
  const summary = h("table", { class: "qa-summary", "aria-label": "Findings per check" });
  const table = h("table", { class: "qa-findings", "aria-label": "Findings" });
  const note = h("p", { class: "muted" });
  const infoToggle = h("input", {
    type: "checkbox",
    id: "qa-show-info",
    onChange: () => {
      state.showInfo = infoToggle.checked;
      render();
    },
  });
  mount(
    root,
    h(
      "section",
      { class: "page qa-page", "data-project-id": pid },
      h("h1", {}, `QA findings: ${project.name}`),
      note,
      h("label", { class: "qa-info-toggle" }, infoToggle, " show info findings"),
      summary,
      table,
    ),
  );
  mount(note, "Running the checks…");
  const answer = await request("GET", `/api/projects/${pid}/qa`);
  const all = answer.findings;

  function render() {
    const shown = all.filter((f) => state.showInfo || f.severity !== "info");
    const checks = [...new Set(shown.map((f) => f.check))].sort();
    mount(
      note,
      `${plural(shown.length, "finding")} on ${plural(
        new Set(shown.map((f) => f.item_id)).size,
        "item",
      )}. Click a check to list only its findings.`,
    );
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
                render();
              },
            },
            h("td", {}, h("button", { type: "button", class: "link" }, check.replaceAll("_", " "))),
            SEVERITIES.map((sev) =>
              h(
                "td",
                { class: "num", "data-severity": sev },
                String(shown.filter((f) => f.check === check && f.severity === sev).length),
              ),
            ),
          ),
        ),
      ),
    );
    const rows = shown.filter((f) => !state.check || f.check === state.check);
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
        rows.map((f) =>
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
  }
  render();
  return {};
}
