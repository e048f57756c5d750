// @ts-check
/**
 * A project's page (#/projects/{pid}): its items with thumbnails, filtered by status
 * and searched by file name; import of images and COCO files, annotations into existing
 * items; export in every format the server writes.
 */

import { api, request } from "../api.js";
import { h, mount, plural } from "../dom.js";
import { exportControl } from "./export.js";
import { importAnnotationsPanel } from "./import_annotations.js";
import { ACTIVE, follow, operationView, operationsPanel } from "./operations.js";
import { prelabelPanel } from "./prelabel.js";
import { trainPanel } from "./train.js";
import { labelNextPanel } from "./labelnext.js";
import { projectSettingsPanel } from "./project_admin.js";
import { skeletonPanel } from "./skeleton_panel.js";
import { videosPanel } from "./videos.js";
import { STATUS_ORDER, STATUS_TEXT } from "../editor/review.js";

const PAGE_SIZE = 48;
const STATUSES = [["", "All"], ...STATUS_ORDER.map((status) => [status, STATUS_TEXT[status]])];

const EXPORT_FORMATS = [
  "coco", "cvat", "cvat-video", "yolo", "labelstudio", "dlc", "sleap", "nwb", "mpii-json",
  "mpii-mat", "posetrack", "template:keypoints.csv",
];

export async function projectPage(root, { pid, job }, app) {
  let project = await api.project(pid);
  app.setCrumbs([{ label: "Projects", href: "#/projects" }, { label: project.name }]);
  // offset: where the page starts (shown as "from–to of total"); cursor: how the
  // server finds it ({after} / {before}: next and previous are an index range however
  // deep the page lies, where an offset makes the server skip every item before it)
  /** @type {{ status: string, q: string, sort: string, offset: number,
   *   cursor: { after?: string, before?: string }, job: string }} */
  const state = { status: "", q: "", sort: "file_name", offset: 0, cursor: {}, job: job || "" };
  function firstPage() {
    state.offset = 0;
    state.cursor = {};
  }
  let searchTimer = null;
  let loadSequence = 0;

  const grid = h("ul", { class: "item-grid", "aria-label": "Items" });
  const pager = h("div", { class: "pager" });
  const tabs = h("div", { class: "tabs", role: "tablist", "aria-label": "Filter by status" });
  const search = h("input", {
    type: "search",
    class: "search",
    placeholder: "Search file names",
    "aria-label": "Search by file name",
    onInput: () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => {
        state.q = search.value.trim();
        firstPage();
        loadItems();
      }, 250);
    },
  });

  // the server sorts (each order along an index) and pages; the page shows one page
  const sort = h(
    "select",
    {
      class: "sort",
      "aria-label": "Sort items",
      onChange: () => {
        state.sort = sort.value;
        firstPage();
        loadItems();
      },
    },
    [
      ["file_name", "File name A–Z"],
      ["-file_name", "File name Z–A"],
      ["-updated_at", "Last changed first"],
      ["updated_at", "Last changed last"],
    ].map(([value, label]) => h("option", { value }, label)),
  );

  function renderTabs() {
    const counts = project.counts || {};
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    mount(
      tabs,
      STATUSES.map(([value, label]) =>
        h(
          "button",
          {
            type: "button",
            role: "tab",
            class: `tab${state.status === value ? " active" : ""}`,
            "aria-selected": state.status === value ? "true" : "false",
            "data-status": value || "all",
            onClick: () => {
              state.status = value;
              firstPage();
              renderTabs();
              loadItems();
            },
          },
          label,
          h("span", { class: "tab-count" }, String(value ? counts[value] || 0 : total)),
        ),
      ),
    );
  }

  async function loadItems() {
    const sequence = ++loadSequence;
    const answer = await api.items(pid, {
      status: state.status,
      job: state.job,
      q: state.q,
      sort: state.sort,
      offset: state.cursor.after || state.cursor.before ? 0 : state.offset,
      ...state.cursor,
      limit: PAGE_SIZE,
    });
    if (sequence !== loadSequence) return; // a newer filter or search is on its way
    mount(
      grid,
      answer.items.length
        ? answer.items.map(itemCard)
        : h(
            "li",
            { class: "empty-state" },
            state.q || state.status
              ? "No items match."
              : "No items yet. Import images or a COCO file.",
          ),
    );
    const from = answer.total ? state.offset + 1 : 0;
    const to = state.offset + answer.items.length;
    mount(
      pager,
      h("span", { class: "muted" }, `${from}–${to} of ${answer.total}`),
      h(
        "button",
        {
          type: "button",
          class: "tool small",
          disabled: state.offset === 0,
          onClick: () => {
            if (state.offset - PAGE_SIZE <= 0 || !answer.prev) firstPage();
            else {
              state.offset -= PAGE_SIZE;
              state.cursor = { before: answer.prev };
            }
            loadItems();
          },
        },
        "‹ Previous",
      ),
      h(
        "button",
        {
          type: "button",
          class: "tool small",
          disabled: to >= answer.total,
          onClick: () => {
            state.offset += PAGE_SIZE;
            state.cursor = answer.next ? { after: answer.next } : {};
            loadItems();
          },
        },
        "Next ›",
      ),
    );
  }

  async function refresh() {
    project = await api.project(pid);
    renderTabs();
    videos.load().catch(() => {});
    await loadItems();
  }

  // the items of one job (the jobs page links here with ?job=): the API's job filter
  const jobFilter = h("select", {
    id: "job-filter",
    class: "job-filter",
    "aria-label": "Filter by job",
    onChange: () => {
      state.job = jobFilter.value;
      firstPage();
      loadItems();
    },
  });
  api
    .jobs(pid)
    .then((jobs) => {
      mount(jobFilter, [
        h("option", { value: "" }, "All jobs"),
        ...jobs.map((j) => h("option", { value: String(j.id) }, j.name)),
      ]);
      jobFilter.value = state.job;
      jobFilter.hidden = jobs.length === 0;
    })
    .catch(() => {
      jobFilter.hidden = true;
    });

  // each role sees only what it may do: import and export are the managers'
  const manages = project.role === "manager";
  const reviews = manages || project.role === "reviewer";
  const importBox = manages ? importPanel(pid, refresh, () => running.refresh()) : null;
  const videos = videosPanel(pid, manages, () => refresh());
  const membersBox = membersPanel(pid, manages);
  const settingsBox = manages ? projectSettingsPanel(project, app) : null;
  const running = operationsPanel(pid, manages, refresh);
  const prelabel = prelabelPanel(pid, manages, refresh, () => running.refresh());
  const skeletonSummary = () =>
    `${project.skeleton.name} · ${plural(project.skeleton.keypoints.length, "keypoint")}` +
    ` · your role: ${project.role}`;
  const headline = h("div", { class: "muted", id: "project-skeleton-summary" }, skeletonSummary());
  const skeletonBox = manages
    ? skeletonPanel(project, () => {
        headline.textContent = skeletonSummary();
        running.refresh();
      })
    : null;
  const training = trainPanel(pid, manages, () => running.refresh());
  const queue = labelNextPanel(pid, manages, () => running.refresh());
  // the formats the server writes (services/export_formats.py); a folder comes zipped;
  // a worker writes the file (the export operation), the page then downloads it
  const exporter = manages ? exportControl(pid, EXPORT_FORMATS) : null;
  const annotationsBox = manages ? importAnnotationsPanel(pid, refresh) : null;

  root.append(
    h(
      "div",
      { class: "page" },
      h(
        "div",
        { class: "page-head" },
        h(
          "div",
          {},
          h("h1", {}, project.name),
          headline,
        ),
        h(
          "div",
          { class: "head-actions" },
          h("a", { class: "tool", href: `#/projects/${pid}/jobs`, id: "open-jobs" }, "Jobs"),
          h("a", { class: "tool", href: `#/projects/${pid}/guidelines`, id: "open-guidelines" }, "Guidelines"),
          reviews
            ? h("a", { class: "tool", href: `#/projects/${pid}/gallery`, id: "open-gallery" }, "Keypoint gallery")
            : null,
          reviews
            ? h("a", { class: "tool", href: `#/projects/${pid}/review`, id: "open-review" }, "Instance review")
            : null,
          h("a", { class: "tool", href: `#/projects/${pid}/qa`, id: "open-qa" }, "QA findings"),
          project.role === "annotator"
            ? null
            : h("a", { class: "tool", href: `#/projects/${pid}/dashboard`, id: "open-dashboard" }, "Dashboard"),
          exporter?.element,
        ),
      ),
      importBox?.element,
      annotationsBox,
      videos.element,
      running.element,
      prelabel.element,
      training.element,
      queue.element,
      membersBox,
      skeletonBox,
      settingsBox,
      h("div", { class: "list-controls" }, tabs, jobFilter, search, sort),
      grid,
      pager,
    ),
  );
  renderTabs();
  await loadItems();
  return {
    destroy: () => {
      clearTimeout(searchTimer);
      prelabel.destroy();
      training.destroy();
      queue.destroy();
      running.destroy();
      exporter?.destroy();
      importBox?.destroy();
    },
  };
}

const ROLES = ["annotator", "reviewer", "manager"];

/**
 * Who works on the project; managers add people (accounts are made by an admin) or
 * change their role. Kept folded: annotators come here for the items, not the team.
 */
function membersPanel(pid, canManage) {
  const list = h("ul", { class: "members", "aria-label": "Members" });
  const summary = h("summary", {}, "Members");
  const error = h("div", { class: "alert error", role: "alert", hidden: true });

  async function load() {
    const members = await api.members(pid);
    summary.textContent = `Members (${members.length})`;
    if (!members.length) {
      mount(list, [h("li", { class: "muted empty" }, "No members yet; admins act as managers.")]);
      return;
    }
    mount(
      list,
      members.map((m) =>
        h(
          "li",
          { "data-username": m.user.username, "data-role": m.role },
          h("span", { class: "member-name" }, m.user.username),
          h("span", { class: "badge" }, m.role),
          canManage
            ? h(
                "button",
                {
                  type: "button",
                  class: "tool ghost small remove-member",
                  "aria-label": `Remove ${m.user.username} from the project`,
                  onClick: async () => {
                    error.hidden = true;
                    try {
                      await api.removeMember(pid, m.user.id);
                      await load();
                    } catch (err) {
                      error.textContent = err.message;
                      error.hidden = false;
                    }
                  },
                },
                "Remove",
              )
            : null,
        ),
      ),
    );
  }

  const children = [summary, list];
  if (canManage) {
    const username = h("input", {
      id: "member-username",
      name: "username",
      required: true,
      placeholder: "user name",
      "aria-label": "User name",
    });
    const role = h(
      "select",
      { id: "member-role", name: "role", "aria-label": "Role" },
      ROLES.map((r) => h("option", { value: r }, r)),
    );
    const form = h(
      "form",
      { class: "form-row member-form" },
      username,
      role,
      h("button", { type: "submit", class: "tool" }, "Add member"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hidden = true;
      try {
        await api.addMember(pid, username.value.trim(), role.value);
        username.value = "";
        await load();
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
      }
    });
    children.push(form, error);
  }
  load().catch((err) => {
    error.textContent = err.message;
    error.hidden = false;
  });
  return h("details", { class: "card members-panel" }, ...children);
}

/** A video frame's name ("clip.mp4#000012") cut in the clip's name, never in the frame
 * number: the part that tells the cards apart. */
function nameParts(fileName) {
  const at = fileName.lastIndexOf("#");
  if (at <= 0) return fileName;
  return [
    h("span", { class: "name-head" }, fileName.slice(0, at)),
    h("span", { class: "name-tail" }, fileName.slice(at)),
  ];
}

function itemCard(item) {
  const count = typeof item.instances === "number" ? item.instances : (item.instances || []).length;
  return h(
    "li",
    { class: "item-card", "data-item-id": item.id, "data-status": item.status },
    h(
      "a",
      { href: `#/items/${item.id}`, "aria-label": `Open ${item.file_name}` },
      h(
        "div",
        { class: "thumb" },
        h("img", {
          src: api.thumbnailUrl(item.id, 240),
          alt: "",
          loading: "lazy",
          decoding: "async",
        }),
      ),
      h(
        "div",
        { class: "item-caption" },
        h("div", { class: "item-name", title: item.file_name }, nameParts(item.file_name)),
        h(
          "div",
          { class: "item-sub" },
          h(
            "span",
            { class: `status-badge ${item.status}` },
            STATUS_TEXT[item.status] || item.status,
          ),
          h("span", { class: "muted" }, `${count} instance${count === 1 ? "" : "s"}`),
        ),
      ),
    ),
  );
}

/** File picker plus drop zone; uploads all chosen files in one request (all or nothing). */
/**
 * Images and COCO files dropped here are uploaded and imported by the `import`
 * background operation (all or nothing): its progress shows here and survives a
 * reload (the latest import is asked for on every load).
 */
function importPanel(pid, onImported, onStarted) {
  let stop = () => {};
  let destroyed = false;
  const input = h("input", {
    type: "file",
    id: "import-files",
    multiple: true,
    accept: "image/*,.json,application/json,video/*,.mp4,.mov,.avi,.mkv,.webm",
    class: "visually-hidden",
  });
  const result = h("div", { class: "import-result", role: "status", "aria-live": "polite" });
  const view = operationView(
    { id: 0, state: "none", done: 0, total: 1, title: "Import", project_id: pid },
    true,
  );
  view.element.hidden = true;
  view.element.id = "import-operation";
  // a video's frames: all of them, or a selection (services/video.py choose_frames)
  const frames = h(
    "select",
    { id: "import-frames", title: "Which frames of an uploaded video become items" },
    ...[
      ["all", "Video: every frame becomes an item"],
      ["every:5", "Video: every 5th frame"],
      ["every:10", "Video: every 10th frame"],
      ["every:30", "Video: every 30th frame"],
      ["kmeans:20", "Video: 20 distinct frames (k-means)"],
      ["kmeans:50", "Video: 50 distinct frames (k-means)"],
      ["kmeans:200", "Video: 200 distinct frames (k-means)"],
    ].map(([value, label]) => h("option", { value }, label)),
  );
  const zone = h(
    "label",
    { class: "drop-zone", for: "import-files" },
    h("strong", {}, "Import"),
    h(
      "span",
      { class: "muted" },
      " images and/or a COCO keypoints .json, or one video — drop files here or click to choose",
    ),
  );

  function show(op, announce) {
    view.element.hidden = !ACTIVE.has(op.state);
    view.update(op);
    if (ACTIVE.has(op.state)) {
      result.className = "import-result busy";
      result.textContent = op.state === "queued" ? "Import waiting for a worker…" : "Importing…";
      stop();
      stop = follow(op, (latest) => !destroyed && show(latest, true));
      return;
    }
    if (!announce) return;
    const r = op.result || {};
    if (op.state === "done") {
      result.className = "import-result ok";
      const items = plural(r.items_created ?? 0, "item");
      result.textContent = `Imported ${items} and ${plural(r.instances ?? 0, "instance")}.`;
    } else if (op.state === "cancelled") {
      result.className = "import-result error";
      result.textContent = "Import cancelled: nothing was imported.";
    } else {
      result.className = "import-result error";
      result.textContent = `Nothing was imported: ${op.error || "unknown error"}`;
    }
    onImported();
  }

  async function upload(files) {
    if (!files.length) return;
    result.className = "import-result busy";
    result.textContent = `Uploading ${files.length} file${files.length === 1 ? "" : "s"}…`;
    try {
      show(await api.importFiles(pid, files, true, frames.value), true);
      onStarted();
    } catch (err) {
      result.className = "import-result error";
      result.textContent = `Nothing was imported: ${err.message}`;
    } finally {
      input.value = "";
    }
  }

  request("GET", `/api/projects/${pid}/operations`, { query: { kind: "import", limit: 1 } })
    .then((answer) => {
      const op = answer.operations[0];
      if (!destroyed && op && ACTIVE.has(op.state)) show(op, true);
    })
    .catch(() => {});

  input.addEventListener("change", () => upload([...input.files]));
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    upload([...e.dataTransfer.files]);
  });
  return {
    element: h("div", { class: "import-panel" }, input, zone, frames, result, view.element),
    destroy() {
      destroyed = true;
      stop();
    },
  };
}
