// @ts-check
/**
 * A project's jobs (#/projects/{pid}/jobs): who annotates and reviews which batch of
 * items, how far each batch is, and the project's review settings.
 *
 * Managers split the items no job holds yet into jobs of N items, reassign annotators
 * and reviewers, and choose which automated checks refuse a submission; everyone else
 * sees the jobs they work on (the server filters; the page shows what it gets).
 *
 * Test hooks: each job row is `tr.job` with data-job-id; its selects are
 * `select[name=annotator]` and `select[name=reviewer]`; managers' `button.job-delete`
 * deletes the job after a confirmation (its items stay in the project).
 */

import { api, request } from "../api.js";
import { h, mount } from "../dom.js";
import { STATUS_ORDER, STATUS_TEXT } from "../editor/review.js";

export async function jobsPage(root, { pid }, app) {
  const project = await api.project(pid);
  app.setCrumbs([
    { label: "Projects", href: "#/projects" },
    { label: project.name, href: `#/projects/${pid}` },
    { label: "Jobs" },
  ]);
  const manager = project.role === "manager";
  const message = h("p", { class: "message", "aria-live": "polite" });
  const say = (text) => {
    message.textContent = text;
  };
  const table = h("div", {});
  const settingsBox = h("div", {});
  let members = [];

  const people = (role) => members.filter((m) => m.role === role).map((m) => m.user.username);

  /** A member picker; `label` names it where no visible <label> around it does. */
  function personSelect(name, role, current, onPick, label = null) {
    return h(
      "select",
      { name, "aria-label": label, disabled: !manager, onChange: (e) => onPick(e.target.value) },
      h("option", { value: "" }, "— nobody —"),
      people(role).map((u) => h("option", { value: u, selected: u === current }, u)),
    );
  }

  async function assign(job, field, username) {
    try {
      await request("PATCH", `/api/jobs/${job.id}`, { body: { [field]: username || null } });
      say(`${job.name}: ${field} ${username || "removed"}.`);
    } catch (err) {
      say(`Not changed: ${err.message}`);
    }
    await load();
  }

  async function remove(job) {
    const ok = window.confirm(
      `Delete ${job.name}? Its ${job.items} item(s) stay in the project with their work; ` +
        "they are only no longer grouped for an annotator and a reviewer.",
    );
    if (!ok) return;
    try {
      await request("DELETE", `/api/jobs/${job.id}`);
      say(`${job.name} deleted.`);
    } catch (err) {
      say(`Not deleted: ${err.message}`);
    }
    await load();
  }

  function progress(job) {
    return STATUS_ORDER.filter((s) => job.counts[s])
      .map((s) => `${job.counts[s]} ${STATUS_TEXT[s].toLowerCase()}`)
      .join(", ");
  }

  async function load() {
    const jobs = await request("GET", `/api/projects/${pid}/jobs`);
    mount(
      table,
      jobs.length
        ? h(
            "table",
            { class: "jobs-table" },
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                [...["Job", "Items", "Progress", "Annotator", "Reviewer"], ...(manager ? [""] : [])].map(
                  (t) => h("th", {}, t),
                ),
              ),
            ),
            h(
              "tbody",
              {},
              jobs.map((job) =>
                h(
                  "tr",
                  { class: "job", "data-job-id": job.id },
                  h(
                    "td",
                    {},
                    h(
                      "a",
                      {
                        class: "job-link",
                        href: `#/projects/${pid}?job=${job.id}`,
                        title: `Open the items of ${job.name}`,
                      },
                      job.name,
                    ),
                  ),
                  h("td", {}, String(job.items)),
                  h("td", { class: "muted" }, progress(job)),
                  h(
                    "td",
                    {},
                    personSelect(
                      "annotator",
                      "annotator",
                      job.annotator?.username,
                      (u) => assign(job, "annotator", u),
                      `Annotator of ${job.name}`,
                    ),
                  ),
                  h(
                    "td",
                    {},
                    personSelect(
                      "reviewer",
                      "reviewer",
                      job.reviewer?.username,
                      (u) => assign(job, "reviewer", u),
                      `Reviewer of ${job.name}`,
                    ),
                  ),
                  manager
                    ? h(
                        "td",
                        {},
                        h(
                          "button",
                          {
                            type: "button",
                            class: "tool danger job-delete",
                            "aria-label": `Delete ${job.name}`,
                            onClick: () => remove(job),
                          },
                          "Delete",
                        ),
                      )
                    : null,
                ),
              ),
            ),
          )
        : h("p", { class: "empty-state" }, manager ? "No jobs yet." : "No jobs for you yet."),
    );
  }

  function createForm() {
    const size = h("input", { type: "number", min: 1, value: 20, name: "size", class: "small" });
    const annotator = personSelect("new-annotator", "annotator", null, () => {}, "Annotator");
    const reviewer = personSelect("new-reviewer", "reviewer", null, () => {}, "Reviewer");
    return h(
      "form",
      {
        class: "jobs-form",
        onSubmit: async (e) => {
          e.preventDefault();
          try {
            const made = await request("POST", `/api/projects/${pid}/jobs`, {
              body: {
                size: Number(size.value),
                annotator: annotator.value || null,
                reviewer: reviewer.value || null,
              },
            });
            say(`${made.length} job(s) made.`);
          } catch (err) {
            say(`No jobs made: ${err.message}`);
          }
          await load();
        },
      },
      h("label", {}, "Items per job ", size),
      h("label", {}, "Annotator ", annotator),
      h("label", {}, "Reviewer ", reviewer),
      h("button", { type: "submit", class: "tool primary" }, "Split unassigned items into jobs"),
    );
  }

  async function loadSettings() {
    const settings = await request("GET", `/api/projects/${pid}/workflow`);
    const canEdit = h("input", {
      type: "checkbox",
      name: "reviewer_can_edit",
      checked: settings.reviewer_can_edit,
      disabled: !manager,
    });
    const boxes = settings.checks.map((check) =>
      h(
        "label",
        { class: "check" },
        h("input", {
          type: "checkbox",
          name: "blocking",
          value: check,
          checked: settings.qa.blocking.includes(check),
          disabled: !manager,
        }),
        ` ${check.replaceAll("_", " ")}`,
      ),
    );
    mount(
      settingsBox,
      h(
        "form",
        {
          class: "workflow-form",
          onSubmit: async (e) => {
            e.preventDefault();
            const blocking = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked);
            try {
              await request("PUT", `/api/projects/${pid}/workflow`, {
                body: {
                  reviewer_can_edit: canEdit.checked,
                  qa: { blocking: blocking.map((i) => i.value), thresholds: settings.qa.thresholds },
                },
              });
              say("Review settings saved.");
            } catch (err) {
              say(`Settings not saved: ${err.message}`);
            }
          },
        },
        h("label", { class: "check" }, canEdit, " Reviewers may fix annotations in place"),
        h("fieldset", {}, h("legend", {}, "Checks that refuse a submission"), boxes),
        manager ? h("button", { type: "submit", class: "tool" }, "Save settings") : null,
      ),
    );
  }

  members = await api.members(pid);
  mount(
    root,
    h(
      "div",
      { class: "page jobs-page" },
      h("div", { class: "page-head" }, h("h1", {}, `Jobs of ${project.name}`)),
      message,
      manager ? createForm() : null,
      table,
      h("h2", {}, "Review settings"),
      settingsBox,
    ),
  );
  await Promise.all([load(), loadSettings()]);
  return null;
}
