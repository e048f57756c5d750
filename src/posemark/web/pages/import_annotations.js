// @ts-check
/**
 * Annotations or predictions from a COCO file into items the project has already
 * (POST /api/projects/{pid}/import-annotations). A preview (dry run) comes first and
 * says how many items match and how many already have instances, so nobody replaces
 * or doubles work by accident; the import itself is all or nothing.
 */

import { api } from "../api.js";
import { h, plural } from "../dom.js";

const POLICIES = [
  ["", "ask me (stop if items have instances)"],
  ["add", "add to their instances"],
  ["replace", "replace their instances"],
  ["skip", "skip those items"],
];

function summary(answer) {
  const kind = answer.suggestions ? "suggestion" : "instance";
  const verb = answer.dry_run ? "Would add" : "Added";
  let text =
    `${verb} ${plural(answer.instances_added, kind)} to ${plural(answer.items_updated, "item")}` +
    ` (${plural(answer.items_matched, "matched item")}).`;
  if (answer.items_with_instances) {
    text += ` ${plural(answer.items_with_instances, "matched item")} already had instances`;
    text += answer.policy
      ? ` (${answer.policy}: ${answer.items_skipped} skipped, ${answer.instances_replaced} replaced).`
      : "; choose what to do with them before importing.";
  }
  return text;
}

/** The panel; `onImported` refreshes the page's item list after a real import. */
export function importAnnotationsPanel(pid, onImported) {
  const file = h("input", { type: "file", id: "import-annotations-file", accept: ".json,application/json" });
  const asSuggestions = h("input", { type: "checkbox", id: "import-as-suggestions" });
  const policy = h(
    "select",
    { id: "import-policy" },
    ...POLICIES.map(([value, text]) => h("option", { value }, text)),
  );
  const result = h("div", { class: "annotations-result", id: "import-annotations-result", role: "status" });

  async function send(dryRun) {
    const chosen = file.files[0];
    if (!chosen) {
      result.className = "annotations-result error";
      result.textContent = "Choose a COCO .json file (ground truth or a results list) first.";
      return;
    }
    result.className = "annotations-result busy";
    result.textContent = dryRun ? "Checking…" : "Importing…";
    try {
      const answer = await api.importAnnotations(pid, chosen, {
        as_suggestions: asSuggestions.checked,
        policy: policy.value || undefined,
        dry_run: dryRun,
      });
      result.className = "annotations-result ok";
      result.textContent = summary(answer);
      if (!dryRun) await onImported();
    } catch (err) {
      result.className = "annotations-result error";
      result.textContent = `Nothing was imported: ${err.message}`;
    }
  }

  const preview = h("button", { type: "button", id: "import-annotations-preview" }, "Preview");
  const go = h("button", { type: "button", id: "import-annotations-go", class: "primary" }, "Import");
  preview.addEventListener("click", () => send(true));
  go.addEventListener("click", () => send(false));
  return h(
    "details",
    { class: "import-annotations" },
    h("summary", {}, "Import annotations or predictions into these items"),
    h(
      "div",
      { class: "import-annotations-form" },
      file,
      h("label", {}, asSuggestions, " as unconfirmed suggestions (a results list always is)"),
      h("label", {}, "Items that already have instances: ", policy),
      preview,
      go,
    ),
    result,
  );
}
