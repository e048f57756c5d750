// @ts-check
/**
 * The projects page (#/projects): the projects the user belongs to, with their
 * progress, and a form to create one with a built-in skeleton.
 */

import { api } from "../api.js";
import { h, mount, plural } from "../dom.js";

export async function projectsPage(root, _params, app) {
  app.setCrumbs([{ label: "Projects" }]);
  const [projects, skeletons, me] = await Promise.all([
    api.projects(),
    api.skeletons(),
    api.me(),
  ]);
  // creating a project is a permission an admin gives; without it there is no form
  const mayCreate = Boolean(me && me.can_create_projects);
  const list = h("div", { class: "project-list" });
  const render = (items) =>
    mount(
      list,
      items.length
        ? items.map(projectCard)
        : h(
            "div",
            { class: "empty-state" },
            mayCreate
              ? "No projects yet. Create the first one above."
              : "No projects yet. An admin or a project manager adds you to one.",
          ),
    );
  render(projects);

  const form = mayCreate
    ? createProjectForm(skeletons, async (project) => {
        render(await api.projects());
        app.navigate(`#/projects/${project.id}`);
      })
    : null;
  root.append(
    h(
      "div",
      { class: "page" },
      h("div", { class: "page-head" }, h("h1", {}, "Projects")),
      form,
      list,
    ),
  );
  return null;
}

/** Items in the review workflow's states: accepted, in review (submitted too), in work. */
function workflowCounts(counts = {}) {
  const n = (key) => counts[key] || 0;
  return {
    total: Object.values(counts).reduce((a, b) => a + b, 0),
    accepted: n("accepted"),
    review: n("submitted") + n("in_review"),
    work: n("annotating") + n("returned"),
    new: n("new"),
  };
}

function progressBar(counts) {
  const c = workflowCounts(counts);
  const pct = (n) => (c.total ? (100 * n) / c.total : 0);
  return h(
    "div",
    {
      class: "progress",
      role: "img",
      "aria-label": `${c.accepted} accepted, ${c.review} in review, ${c.work} in work, ${c.new} new`,
    },
    h("span", { class: "accepted", style: `width: ${pct(c.accepted)}%` }),
    h("span", { class: "in_review", style: `width: ${pct(c.review)}%` }),
    h("span", { class: "annotating", style: `width: ${pct(c.work)}%` }),
  );
}

function projectCard(project) {
  const counts = project.counts || {};
  const c = workflowCounts(counts);
  const total = c.total;
  return h(
    "a",
    { class: "card project-card", href: `#/projects/${project.id}`, "data-project-id": project.id },
    h(
      "div",
      { class: "project-title" },
      h("span", { class: "project-name" }, project.name),
      h("span", { class: "chip" }, project.role || ""),
    ),
    h(
      "div",
      { class: "muted" },
      `${project.skeleton.name} · ${plural(project.skeleton.keypoints.length, "keypoint")}` +
        ` · ${plural(total, "item")}`,
    ),
    progressBar(counts),
    h(
      "div",
      { class: "count-row" },
      h("span", { class: "status-badge accepted" }, `${c.accepted} accepted`),
      h("span", { class: "status-badge in_review" }, `${c.review} in review`),
      h("span", { class: "status-badge annotating" }, `${c.work} in work`),
      h("span", { class: "status-badge new" }, `${c.new} new`),
    ),
  );
}

const CUSTOM_FILE = "__custom_file__";
const FROM_COCO = "__from_coco__";

function createProjectForm(skeletons, onCreated) {
  const name = h("input", {
    id: "project-name",
    name: "name",
    required: true,
    placeholder: "e.g. street-people-2024",
  });
  const skeleton = h(
    "select",
    { id: "project-skeleton", name: "skeleton" },
    [
      ...skeletons.map((sk) =>
        h(
          "option",
          { value: sk.name, selected: sk.name === "coco17" },
          `${sk.name} — ${plural(sk.keypoints.length, "keypoint")}` +
            (sk.description ? ` (${shorten(sk.description)})` : ""),
        ),
      ),
      h("option", { value: CUSTOM_FILE }, "Custom skeleton file (YAML or JSON)…"),
      h("option", { value: FROM_COCO }, "The skeleton of a COCO file (upload it with its images)…"),
    ],
  );
  // A COCO file names its keypoints: the project takes them (a built-in when they match
  // one), and the file and its images are imported in the same step.
  const cocoFiles = h("input", {
    id: "project-coco-files",
    name: "coco_files",
    type: "file",
    multiple: true,
    accept: ".json,application/json,image/*",
    "aria-label": "COCO file and its images",
    hidden: true,
  });
  // A sport, a clinic or an animal needs its own skeleton: names, edges, flip pairs and
  // optional sigmas in a YAML/JSON file, checked by the server (errors name the line).
  const skeletonFile = h("input", {
    id: "project-skeleton-file",
    name: "skeleton_file",
    type: "file",
    accept: ".yaml,.yml,.json",
    "aria-label": "Custom skeleton file",
    hidden: true,
  });
  skeleton.addEventListener("change", () => {
    skeletonFile.hidden = skeleton.value !== CUSTOM_FILE;
    cocoFiles.hidden = skeleton.value !== FROM_COCO;
  });
  const error = h("div", { class: "alert error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "tool primary" }, "Create project");
  const form = h(
    "form",
    { class: "card create-project", "aria-labelledby": "create-project-title" },
    h("h2", { id: "create-project-title" }, "New project"),
    h(
      "div",
      { class: "form-row" },
      h("div", { class: "field grow" }, h("label", { for: "project-name" }, "Name"), name),
      h(
        "div",
        { class: "field grow" },
        h("label", { for: "project-skeleton" }, "Skeleton"),
        skeleton,
        skeletonFile,
        cocoFiles,
      ),
      h("div", { class: "field" }, submit),
    ),
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    try {
      let spec = skeleton.value;
      if (spec === FROM_COCO) {
        const files = [...cocoFiles.files];
        if (!files.length) throw new Error("Choose the COCO .json file and its images first.");
        const project = await api.createProjectFromFile(name.value.trim(), files);
        name.value = "";
        await onCreated(project);
        return;
      }
      if (spec === CUSTOM_FILE) {
        const file = skeletonFile.files[0];
        if (!file) throw new Error("Choose a skeleton file (YAML or JSON) first.");
        spec = { name: file.name, text: await file.text() };
      }
      const project = await api.createProject(name.value.trim(), spec);
      name.value = "";
      await onCreated(project);
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function shorten(text, max = 48) {
  const first = text.split(/[:;(]/)[0].trim();
  return first.length > max ? `${first.slice(0, max - 1)}…` : first;
}
