// @ts-check
/**
 * A project's guideline document (#/projects/{pid}/guidelines[?version=N]): the general
 * rules and, per keypoint, the placement rule, the occlusion rule and the reference
 * picture. Every version stays readable; managers edit the current one in place and
 * publish it as the next version (others read only, and the API refuses them with 403).
 */

import { request } from "../api.js";
import { h, mount } from "../dom.js";
import { forgetGuidelines, guidelineBody, prettyName } from "../editor/guideline.js";

export async function guidelinesPage(root, { pid, version }, app) {
  const project = await request("GET", `/api/projects/${pid}`);
  const current = await request("GET", `/api/projects/${pid}/guidelines`);
  const shown = version
    ? await request("GET", `/api/projects/${pid}/guidelines/versions/${version}`)
    : current;
  const { versions } = await request("GET", `/api/projects/${pid}/guidelines/versions`);
  app.setCrumbs([
    { label: "Projects", href: "#/projects" },
    { label: project.name, href: `#/projects/${pid}` },
    { label: "Guidelines" },
  ]);
  const names = project.skeleton.keypoints;
  const isCurrent = shown.version === current.version;
  const body = h("div", { class: "guideline-document" });
  const message = h("div", { class: "alert", role: "status", hidden: true });

  function say(text, kind = "ok") {
    message.className = `alert ${kind}`;
    message.textContent = text;
    message.hidden = !text;
  }

  function showDocument(doc) {
    mount(
      body,
      doc.general ? h("p", { class: "guideline-general" }, doc.general) : null,
      h(
        "ol",
        { class: "guideline-list" },
        names.map((name) =>
          h(
            "li",
            { class: "guideline-entry", "data-keypoint": name },
            h("h2", {}, prettyName(name)),
            h("div", { class: "guideline-body" }, guidelineBody((doc.keypoints || {})[name])),
          ),
        ),
      ),
    );
  }

  function editDocument(doc) {
    const general = h("textarea", { id: "guideline-general", rows: 5 }, doc.general || "");
    const fields = names.map((name) => {
      const entry = (doc.keypoints || {})[name] || {};
      const rule = h("textarea", { class: "edit-rule", rows: 2 }, entry.rule || "");
      const occlusion = h(
        "textarea",
        { class: "edit-occlusion", rows: 2 },
        entry.occlusion_rule || "",
      );
      const picture = h("input", { class: "edit-picture", value: entry.picture || "" });
      return { name, rule, occlusion, picture };
    });
    const publish = h("button", { type: "submit", class: "tool primary" }, "Publish new version");
    const form = h(
      "form",
      { class: "guideline-editor" },
      h("label", { for: "guideline-general" }, "General rules"),
      general,
      fields.map((f) =>
        h(
          "fieldset",
          { class: "guideline-entry", "data-keypoint": f.name },
          h("legend", {}, prettyName(f.name)),
          h("label", {}, "Placement rule", f.rule),
          h("label", {}, "If hidden", f.occlusion),
          h("label", {}, "Picture (shipped name or http(s) URL)", f.picture),
        ),
      ),
      h(
        "div",
        { class: "form-row" },
        publish,
        h("button", { type: "button", class: "tool", onClick: () => showDocument(doc) }, "Cancel"),
      ),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const keypoints = {};
      for (const f of fields) {
        const rule = f.rule.value.trim();
        if (!rule && !f.occlusion.value.trim() && !f.picture.value.trim()) continue;
        keypoints[f.name] = {
          rule,
          occlusion_rule: f.occlusion.value.trim(),
          picture: f.picture.value.trim(),
        };
      }
      publish.disabled = true;
      try {
        const saved = await request("PUT", `/api/projects/${pid}/guidelines`, {
          body: {
            base_version: current.version,
            document: { general: general.value.trim(), keypoints },
          },
        });
        forgetGuidelines(pid);
        say(`Published version ${saved.version}.`);
        app.navigate(`#/projects/${pid}/guidelines?version=${saved.version}`);
      } catch (err) {
        publish.disabled = false;
        say(`Not published: ${err.message}`, "error");
      }
    });
    mount(body, form);
  }

  const versionPicker = h(
    "select",
    {
      id: "guideline-version",
      "aria-label": "Guidelines version",
      onChange: (e) => app.navigate(`#/projects/${pid}/guidelines?version=${e.target.value}`),
    },
    versions.map((v) =>
      h(
        "option",
        { value: v.version, selected: v.version === shown.version },
        `version ${v.version}` +
          (v.author ? ` by ${v.author}` : " (from the skeleton)") +
          ` · ${new Date(v.created_at).toLocaleString()}`,
      ),
    ),
  );
  const editButton =
    current.can_edit && isCurrent
      ? h(
          "button",
          {
            type: "button",
            class: "tool",
            id: "edit-guidelines",
            onClick: () => editDocument(shown.document),
          },
          "Edit",
        )
      : null;

  root.append(
    h(
      "div",
      { class: "page guidelines-page", "data-version": shown.version },
      h(
        "div",
        { class: "page-head" },
        h(
          "div",
          {},
          h("h1", {}, "Annotation guidelines"),
          h(
            "div",
            { class: "muted" },
            `${project.skeleton.name} · version ${shown.version}` +
              (isCurrent ? " (current)" : ` (current is ${current.version})`) +
              (current.can_edit ? "" : " · read only"),
          ),
        ),
        h("div", { class: "head-actions" }, versionPicker, editButton),
      ),
      message,
      body,
    ),
  );
  showDocument(shown.document);
  return {};
}
