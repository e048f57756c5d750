/**
 * The skeleton editor on the project page (managers): rename, reorder, add and remove
 * keypoints, set each keypoint's flip partner and (where the skeleton has them) its OKS
 * sigma, and edit the edges. Each row remembers which old keypoint it continues, so the
 * server can move every annotation's points along (PUT /api/projects/{pid}/skeleton).
 * Removing keypoints that are labeled somewhere asks first, with the count the server
 * gives; the documents then follow in the skeleton-migrate operation.
 */

import { api } from "../api.js";
import { h, mount, plural } from "../dom.js";

export function skeletonPanel(project, onChanged) {
  const skeleton = project.skeleton;
  let version = project.skeleton_version ?? 1;
  const hasSigmas = Array.isArray(skeleton.sigmas);
  const partner = new Map();
  for (const [a, b] of skeleton.flip_pairs || []) {
    partner.set(a, b);
    partner.set(b, a);
  }
  /** Rows: {from: old name or null, name, partner, sigma}. */
  let rows = skeleton.keypoints.map((name, i) => ({
    from: name,
    name,
    partner: partner.get(name) || "",
    sigma: hasSigmas ? skeleton.sigmas[i] : null,
  }));
  const middleSigma = hasSigmas ? [...skeleton.sigmas].sort((a, b) => a - b)[Math.floor(skeleton.sigmas.length / 2)] : null;

  const list = h("ol", { class: "skeleton-rows" });
  const edges = h("textarea", {
    id: "skeleton-edges",
    rows: 4,
    "aria-label": "Edges, one a-b pair per line",
  });
  edges.value = (skeleton.edges || []).map(([a, b]) => `${a}-${b}`).join("\n");
  const message = h("div", { class: "skeleton-message", role: "status" });
  const error = h("div", { class: "alert error", role: "alert", hidden: true });

  /** A renamed keypoint's name follows in the edges and flip partners. */
  function renamed(before, after) {
    if (!before || before === after) return;
    edges.value = edges.value
      .split("\n")
      .map((line) => line.split("-").map((p) => (p.trim() === before ? after : p.trim())).join("-"))
      .join("\n");
    for (const row of rows) if (row.partner === before) row.partner = after;
  }

  function draw() {
    const names = rows.map((r) => r.name);
    mount(
      list,
      ...rows.map((row, i) => {
        const name = h("input", {
          class: "skeleton-name",
          value: row.name,
          "aria-label": `Keypoint ${i + 1} name`,
        });
        name.addEventListener("change", () => {
          const before = row.name;
          row.name = name.value.trim();
          renamed(before, row.name);
          draw();
        });
        const flip = h(
          "select",
          { class: "skeleton-flip", "aria-label": `Flip partner of keypoint ${i + 1}` },
          h("option", { value: "" }, "no flip partner"),
          ...names.filter((n) => n !== row.name).map((n) => h("option", { value: n }, n)),
        );
        flip.value = row.partner && names.includes(row.partner) ? row.partner : "";
        flip.addEventListener("change", () => {
          const old = rows.find((r) => r.name === row.partner);
          if (old) old.partner = "";
          row.partner = flip.value;
          const other = rows.find((r) => r.name === flip.value);
          if (other) {
            const third = rows.find((r) => r.name === other.partner);
            if (third && third !== row) third.partner = "";
            other.partner = row.name;
          }
          draw();
        });
        const sigma = hasSigmas
          ? h("input", {
              class: "skeleton-sigma",
              type: "number",
              step: "0.001",
              min: "0.001",
              value: String(row.sigma ?? middleSigma),
              "aria-label": `OKS sigma of keypoint ${i + 1}`,
            })
          : null;
        sigma?.addEventListener("change", () => {
          row.sigma = Number(sigma.value);
        });
        const move = (step) => () => {
          const j = i + step;
          if (j < 0 || j >= rows.length) return;
          [rows[i], rows[j]] = [rows[j], rows[i]];
          draw();
        };
        const remove = () => {
          for (const r of rows) if (r.partner === row.name) r.partner = "";
          // its edges go with it
          edges.value = edges.value
            .split("\n")
            .filter((line) => !line.split("-").some((p) => p.trim() === row.name))
            .join("\n");
          rows = rows.filter((r) => r !== row);
          draw();
        };
        return h(
          "li",
          { class: "skeleton-row", "data-from": row.from ?? "" },
          name,
          row.from && row.from !== row.name ? h("span", { class: "muted" }, `was ${row.from}`) : null,
          row.from ? null : h("span", { class: "muted" }, "new"),
          flip,
          sigma,
          button("↑", `Move ${row.name || "keypoint"} up`, "skeleton-up", move(-1), i === 0),
          button("↓", `Move ${row.name || "keypoint"} down`, "skeleton-down", move(1), i === rows.length - 1),
          button("Remove", `Remove ${row.name || "keypoint"}`, "skeleton-remove", remove),
        );
      }),
    );
  }

  const newName = h("input", { id: "skeleton-new-name", placeholder: "new keypoint", "aria-label": "New keypoint name" });
  const addForm = h(
    "form",
    { class: "form-row", "aria-label": "Add keypoint" },
    newName,
    h("button", { type: "submit", class: "tool", id: "skeleton-add" }, "Add keypoint"),
  );
  addForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = newName.value.trim();
    if (!name) return;
    rows.push({ from: null, name, partner: "", sigma: middleSigma });
    newName.value = "";
    draw();
  });

  function edit(confirmRemoval) {
    const pairs = [];
    const seen = new Set();
    for (const row of rows) {
      if (!row.partner || seen.has(row.name)) continue;
      pairs.push([row.name, row.partner]);
      seen.add(row.name);
      seen.add(row.partner);
    }
    const body = {
      keypoints: rows.map((r) => ({ name: r.name, from: r.from })),
      edges: edges.value
        .split("\n")
        .map((line) => line.trim())
        .filter(Boolean)
        .map((line) => line.split("-").map((p) => p.trim())),
      flip_pairs: pairs,
      base_version: version,
      confirm_removal: confirmRemoval,
    };
    if (hasSigmas) body.sigmas = rows.map((r) => Number(r.sigma ?? middleSigma));
    return api.editSkeleton(project.id, body);
  }

  const apply = h("button", { type: "button", class: "tool", id: "skeleton-apply" }, "Apply skeleton change");
  apply.addEventListener("click", async () => {
    error.hidden = true;
    message.textContent = "";
    apply.disabled = true;
    try {
      let answer;
      try {
        answer = await edit(false);
      } catch (err) {
        if (err.body?.code !== "confirm_removal") throw err;
        const counts = Object.entries(err.body.labeled)
          .filter(([, n]) => n > 0)
          .map(([name, n]) => `${name}: ${n}`)
          .join(", ");
        const ok = window.confirm(
          `Removing these keypoints deletes ${plural(err.body.total, "labeled point")} (${counts}) ` +
            "from every annotation. Earlier versions stay in each item's history. Remove them?",
        );
        if (!ok) {
          message.textContent = "Nothing changed.";
          return;
        }
        answer = await edit(true);
      }
      version = answer.skeleton_version;
      project.skeleton = answer.skeleton;
      project.skeleton_version = version;
      rows = answer.skeleton.keypoints.map((name, i) => ({
        from: name,
        name,
        partner: (answer.skeleton.flip_pairs || []).flat().includes(name)
          ? answer.skeleton.flip_pairs.find((p) => p.includes(name)).find((n) => n !== name)
          : "",
        sigma: hasSigmas && answer.skeleton.sigmas ? answer.skeleton.sigmas[i] : null,
      }));
      draw();
      const op = answer.operation;
      message.textContent =
        `Skeleton version ${version}: ${plural(answer.skeleton.keypoints.length, "keypoint")}. ` +
        (op ? "Moving every annotation to it in the background (see Running now)." : "No annotations to migrate.");
      onChanged(answer);
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    } finally {
      apply.disabled = false;
    }
  });

  draw();
  return h(
    "details",
    { class: "card skeleton-panel", id: "skeleton-panel" },
    h("summary", {}, "Skeleton"),
    h(
      "p",
      { class: "muted" },
      "Rename, reorder, add or remove keypoints and set flip partners. Every annotation of the " +
        "project is moved to the new skeleton in the background; each item keeps its earlier " +
        "version in its history.",
    ),
    list,
    addForm,
    h("label", { for: "skeleton-edges" }, "Edges (one a-b per line)"),
    edges,
    h("div", { class: "form-row" }, apply),
    message,
    error,
  );
}

function button(label, title, cls, onClick, disabled = false) {
  const el = h("button", { type: "button", class: `tool ${cls}`, title, "aria-label": title, disabled }, label);
  el.addEventListener("click", onClick);
  return el;
}
