// @ts-check
/**
 * A project's settings for its managers: rename it, or delete it with everything it
 * holds. Deleting asks for the project's name to be typed (a stray click deletes
 * nothing) and says what goes: items, history, jobs, comments and the copied images.
 */

import { api } from "../api.js";
import { h } from "../dom.js";

export function projectSettingsPanel(project, app) {
  const error = h("div", { class: "alert error", role: "alert", hidden: true });
  const fail = (err) => {
    error.textContent = err.message;
    error.hidden = false;
  };

  const name = h("input", {
    id: "project-name",
    value: project.name,
    required: true,
    "aria-label": "Project name",
  });
  const renameForm = h(
    "form",
    { class: "form-row", "aria-label": "Rename project" },
    name,
    h("button", { type: "submit", class: "tool", id: "rename-project" }, "Rename"),
  );
  renameForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    try {
      const renamed = await api.renameProject(project.id, name.value.trim());
      project.name = renamed.name;
      document.querySelector(".page-head h1").textContent = renamed.name;
    } catch (err) {
      fail(err);
    }
  });

  const confirm = h("input", {
    id: "delete-confirm",
    placeholder: project.name,
    autocomplete: "off",
    "aria-label": `Type ${project.name} to delete the project`,
  });
  const deleteButton = h(
    "button",
    { type: "submit", class: "tool danger", id: "delete-project", disabled: true },
    "Delete project",
  );
  confirm.addEventListener("input", () => {
    deleteButton.disabled = confirm.value.trim() !== project.name;
  });
  const deleteForm = h(
    "form",
    { class: "form-row", "aria-label": "Delete project" },
    confirm,
    deleteButton,
  );
  deleteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    try {
      await api.deleteProject(project.id, confirm.value.trim());
      app.navigate("#/projects");
    } catch (err) {
      fail(err);
    }
  });

  return h(
    "details",
    { class: "card settings-panel" },
    h("summary", {}, "Project settings"),
    renameForm,
    h(
      "p",
      { class: "muted" },
      "Deleting removes every item with its history, jobs, comments and the images copied " +
        "into the project. Type the project's name to confirm.",
    ),
    deleteForm,
    error,
  );
}
