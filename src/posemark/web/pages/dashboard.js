// @ts-check
/**
 * A project's dashboard (#/projects/{pid}/dashboard): the quality report of
 * services/report.py (GET /api/projects/{pid}/report) as bar charts and tables —
 * progress, throughput, rejection rate, QA findings, agreement and gold accuracy —
 * plus the manager's actions: send a share of the items to several annotators, mark
 * gold items, merge an overlap item's annotations.
 *
 * Every number shown carries `data-figure="section|key|metric"` and its raw value in
 * `data-value` (empty when the figure does not exist yet), the same triples as the
 * report's CSV, so tests and scripts read exactly what a person sees.
 */

import { api, request } from "../api.js";
import { h, mount, plural, s } from "../dom.js";
import { STATUS_TEXT } from "../editor/review.js";

const BAR_HEIGHT = 20;
const LABEL_WIDTH = 170;
const BAR_WIDTH = 320;

/** `digits` null: counts as they are, other numbers to 3 decimals. */
function fmt(value, digits = null) {
  if (value === null || value === undefined) return "–";
  if (digits === null) return Number.isInteger(value) ? String(value) : value.toFixed(3);
  return value.toFixed(digits);
}

function figure(section, key, metric, value, digits = null) {
  return h(
    "span",
    {
      class: "figure",
      "data-figure": `${section}|${key}|${metric}`,
      "data-value": value === null || value === undefined ? "" : String(value),
    },
    fmt(value, digits),
  );
}

/**
 * A horizontal bar chart: one bar per `{label, value, figure: [section, key, metric]}`.
 * `max` fixes the scale (1 for OKS and rates), else the largest value fills the width.
 */
function barChart(bars, { max = null, digits = 3, title = "" } = {}) {
  const values = bars.map((b) => b.value).filter((v) => v !== null && v !== undefined);
  const top = max ?? (Math.max(0, ...values) || 1);
  const height = bars.length * BAR_HEIGHT + 4;
  const svg = s("svg", {
    class: "bar-chart",
    width: LABEL_WIDTH + BAR_WIDTH + 70,
    height,
    role: "img",
    "aria-label": title,
  });
  bars.forEach((bar, n) => {
    const y = n * BAR_HEIGHT + 2;
    const v = bar.value;
    const w = v === null || v === undefined ? 0 : Math.max(0, Math.min(1, v / top)) * BAR_WIDTH;
    const [section, key, metric] = bar.figure;
    svg.append(
      s(
        "text",
        { x: LABEL_WIDTH - 6, y: y + 14, "text-anchor": "end", class: "bar-label" },
        bar.label,
      ),
      s(
        "rect",
        {
          x: LABEL_WIDTH,
          y: y + 3,
          width: w.toFixed(1),
          height: BAR_HEIGHT - 6,
          class: "bar",
          "data-figure": `${section}|${key}|${metric}`,
          "data-value": v === null || v === undefined ? "" : String(v),
        },
        s("title", {}, `${bar.label}: ${fmt(v, digits)}`),
      ),
      s("text", { x: LABEL_WIDTH + w + 4, y: y + 14, class: "bar-value" }, fmt(v, digits)),
    );
  });
  return svg;
}

function table(headers, rows) {
  return h(
    "table",
    { class: "report-table" },
    h("thead", {}, h("tr", {}, headers.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))),
  );
}

function card(id, title, ...body) {
  return h("section", { class: "dash-card", id: `dash-${id}` }, h("h2", {}, title), ...body);
}

function progressCard(p) {
  const states = Object.keys(p.by_state);
  const word = (st) => STATUS_TEXT[st] || st;
  return card(
    "progress",
    h("span", {}, "Progress · ", figure("progress", "all", "items", p.items), " items"),
    barChart(
      states.map((st) => ({
        label: word(st),
        value: p.by_state[st],
        figure: ["progress", "all", st],
      })),
      { digits: 0, title: "items by state" },
    ),
    h("h3", {}, "Per job"),
    table(
      ["job", "annotator", "items", ...states.map(word)],
      p.jobs.map((j) => [
        j.name,
        j.annotator || "",
        figure("progress", `job:${j.name}`, "items", j.items),
        ...states.map((st) => figure("progress", `job:${j.name}`, st, j.by_state[st])),
      ]),
    ),
    h("h3", {}, "Per annotator"),
    table(
      ["annotator", "items", ...states.map(word)],
      p.annotators.map((a) => [
        a.username,
        figure("progress", `annotator:${a.username}`, "items", a.items),
        ...states.map((st) => figure("progress", `annotator:${a.username}`, st, a.by_state[st])),
      ]),
    ),
  );
}

function throughputCard(t) {
  const key = (a) => `annotator:${a.username}`;
  return card(
    "throughput",
    h(
      "span",
      {},
      "Throughput · ",
      figure("throughput", "all", "instances_per_hour", t.instances_per_hour, 1),
      " instances per hour",
    ),
    barChart(
      t.annotators.map((a) => ({
        label: a.username,
        value: a.instances_per_hour,
        figure: ["throughput", key(a), "instances_per_hour"],
      })),
      { digits: 1, title: "instances per hour" },
    ),
    table(
      ["annotator", "saves", "items", "instances", "hours"],
      t.annotators.map((a) => [
        a.username,
        figure("throughput", key(a), "saves", a.saves),
        figure("throughput", key(a), "items", a.items),
        figure("throughput", key(a), "instances", a.instances),
        figure("throughput", key(a), "hours", a.hours, 2),
      ]),
    ),
    h(
      "p",
      { class: "muted" },
      figure("throughput", "all", "instances", t.instances),
      " instances in ",
      figure("throughput", "all", "hours", t.hours, 2),
      ` hours of work (gaps between saves up to ${t.idle_gap_minutes} minutes).`,
    ),
  );
}

function rejectionCard(r) {
  return card(
    "rejection",
    h(
      "span",
      {},
      "Rejection rate · ",
      figure("rejection", "all", "rate", r.rate, 3),
      " (",
      figure("rejection", "all", "returned", r.returned),
      " returned of ",
      figure("rejection", "all", "reviewed", r.reviewed),
      " reviewed)",
    ),
    barChart(
      r.annotators.map((a) => ({
        label: a.username,
        value: a.rate,
        figure: ["rejection", `annotator:${a.username}`, "rate"],
      })),
      { max: 1, title: "rejection rate per annotator" },
    ),
    table(
      ["annotator", "reviewed", "returned", "rate"],
      r.annotators.map((a) => [
        a.username,
        figure("rejection", `annotator:${a.username}`, "reviewed", a.reviewed),
        figure("rejection", `annotator:${a.username}`, "returned", a.returned),
        figure("rejection", `annotator:${a.username}`, "rate", a.rate, 3),
      ]),
    ),
  );
}

function findingsCard(f) {
  return card(
    "findings",
    h(
      "span",
      {},
      "QA findings · ",
      figure("findings", "all", "total", f.total),
      " · items awaiting their refresh after an import: ",
      figure("findings", "all", "items awaiting refresh", f.awaiting_refresh),
    ),
    barChart(
      f.by_check.map((c) => ({
        label: `${c.check} (${c.severity})`,
        value: c.count,
        figure: ["findings", `check:${c.check}`, c.severity],
      })),
      { digits: 0, title: "findings per check" },
    ),
  );
}

function agreementCard(ag, canManage, onMerge) {
  const o = ag.overall;
  const key = (a) => `annotator:${a.username}`;
  return card(
    "agreement",
    h(
      "span",
      {},
      "Agreement · mean OKS ",
      figure("agreement", "all", "mean_oks", o.mean_oks, 3),
      " over ",
      figure("agreement", "all", "compared_items", o.compared_items),
      " of ",
      figure("agreement", "all", "overlap_items", o.overlap_items),
      " overlap items",
    ),
    h("h3", {}, "Per annotator (OKS against the others)"),
    barChart(
      ag.annotators.map((a) => ({
        label: a.username,
        value: a.mean_oks_vs_others,
        figure: ["agreement", key(a), "mean_oks_vs_others"],
      })),
      { max: 1, title: "agreement per annotator" },
    ),
    table(
      ["annotator", "items", "OKS vs others", "OKS vs consensus"],
      ag.annotators.map((a) => [
        a.username,
        figure("agreement", key(a), "items", a.items),
        figure("agreement", key(a), "mean_oks_vs_others", a.mean_oks_vs_others, 3),
        figure("agreement", key(a), "mean_oks_vs_consensus", a.mean_oks_vs_consensus, 3),
      ]),
    ),
    h("h3", {}, "Per keypoint"),
    barChart(
      ag.keypoints.map((k) => ({
        label: k.keypoint,
        value: k.mean_oks,
        figure: ["agreement", `keypoint:${k.keypoint}`, "mean_oks"],
      })),
      { max: 1, title: "agreement per keypoint" },
    ),
    h("h3", {}, "Overlap items"),
    table(
      ["item", "annotators", "mean OKS", ""],
      ag.items.map((it) => [
        h("a", { href: `#/items/${it.item_id}` }, it.file_name),
        it.annotators.join(", "),
        figure("agreement", `item:${it.file_name}`, "mean_oks", it.mean_oks, 3),
        it.merged
          ? "merged"
          : canManage && it.annotators.length >= 2
            ? h(
                "button",
                {
                  type: "button",
                  class: "tool merge",
                  "data-item-id": it.item_id,
                  onClick: () => onMerge(it.item_id),
                },
                "Merge",
              )
            : "",
      ]),
    ),
  );
}

function goldCard(g) {
  const key = (a) => `annotator:${a.username}`;
  return card(
    "gold",
    h(
      "span",
      {},
      "Gold accuracy · ",
      figure("gold", "all", "gold_items", g.gold_items),
      " gold items",
    ),
    barChart(
      g.annotators.map((a) => ({
        label: a.username,
        value: a.mean_oks,
        figure: ["gold", key(a), "mean_oks"],
      })),
      { max: 1, title: "mean OKS against gold" },
    ),
    table(
      ["annotator", "items", "mean OKS", "keypoint accuracy (OKS 0.5)", "missed", "extra"],
      g.annotators.map((a) => [
        a.username,
        figure("gold", key(a), "items", a.items),
        figure("gold", key(a), "mean_oks", a.mean_oks, 3),
        figure("gold", key(a), "keypoint_accuracy", a.keypoint_accuracy, 3),
        figure("gold", key(a), "missed", a.missed),
        figure("gold", key(a), "extra", a.extra),
      ]),
    ),
  );
}

function managerPanel(pid, reload) {
  const message = h("div", { class: "muted", id: "dash-message", role: "status" });
  const number = (id, value, min, max, label) =>
    h("input", { type: "number", id, value, min, max, "aria-label": label });
  const share = number("overlap-share", 10, 1, 100, "Share of items (%)");
  const k = number("overlap-k", 2, 2, 10, "Annotators per item");
  const seed = h("input", { type: "number", value: 0, id: "overlap-seed", "aria-label": "Seed" });
  // managers pick items by the file names they know (ids appear only in URLs)
  const goldNames = h("datalist", { id: "gold-item-names" });
  const goldIds = h("input", {
    type: "text",
    id: "gold-items",
    list: "gold-item-names",
    placeholder: "file names, comma separated",
    "aria-label": "Gold items (file names)",
    onInput: () => suggestNames(goldIds.value.split(",").at(-1).trim()),
  });
  async function suggestNames(part) {
    if (!part) return;
    const answer = await api.items(pid, { q: part, limit: 20 }).catch(() => ({ items: [] }));
    mount(goldNames, answer.items.map((i) => h("option", { value: i.file_name })));
  }
  /** Item ids of the typed file names (an id typed as a number still works). */
  async function goldItemIds() {
    const names = goldIds.value.split(",").map((n) => n.trim()).filter(Boolean);
    const ids = [];
    for (const name of names) {
      const answer = await api.items(pid, { q: name, limit: 50 });
      const found = answer.items.find((i) => i.file_name === name);
      if (found) ids.push(found.id);
      else if (/^\d+$/.test(name)) ids.push(Number(name));
      else throw new Error(`no item named ${name}`);
    }
    return ids;
  }
  async function run(action) {
    try {
      message.textContent = await action();
      await reload();
    } catch (error) {
      message.textContent = error.detail || error.message;
    }
  }
  return h(
    "section",
    { class: "dash-card dash-actions" },
    h("h2", {}, "Agreement and gold"),
    h(
      "form",
      {
        id: "overlap-form",
        onSubmit: (e) => {
          e.preventDefault();
          run(async () => {
            const body = {
              share: Number(share.value) / 100,
              annotators_per_item: Number(k.value),
              seed: Number(seed.value),
            };
            const answer = await request("POST", `/api/projects/${pid}/overlap`, { body });
            return `${plural(answer.items.length, "item")} sent to ${k.value} annotators each`;
          });
        },
      },
      h("label", {}, "Share of items (%) ", share),
      h("label", {}, " to ", k, " annotators each"),
      h("label", {}, " seed ", seed),
      h("button", { type: "submit", class: "tool" }, "Assign overlap"),
    ),
    h(
      "form",
      {
        id: "gold-form",
        onSubmit: (e) => {
          e.preventDefault();
          run(async () => {
            const body = { item_ids: await goldItemIds() };
            const answer = await request("POST", `/api/projects/${pid}/gold`, { body });
            const n = answer.replicas;
            const copies = `${n} new annotator ${n === 1 ? "copy" : "copies"}`;
            return `${plural(answer.gold.length, "gold item")}, ${copies}`;
          });
        },
      },
      h("label", {}, "Mark as gold (current annotation is the answer): ", goldIds, goldNames),
      h("button", { type: "submit", class: "tool" }, "Mark gold"),
    ),
    message,
  );
}

export async function dashboardPage(root, { pid }, app) {
  const project = await api.project(pid);
  app.setCrumbs([
    { label: "Projects", href: "#/projects" },
    { label: project.name, href: `#/projects/${pid}` },
    { label: "Dashboard" },
  ]);
  const body = h("div", { class: "dash-body" });
  const canManage = project.role === "manager";
  const links = ["html", "csv", "json"].map((f) =>
    h(
      "a",
      { class: "tool", href: `/api/projects/${pid}/report?format=${f}`, target: "_blank" },
      f.toUpperCase(),
    ),
  );

  async function reload() {
    const query = { format: "json" };
    const report = await request("GET", `/api/projects/${pid}/report`, { query });
    const merge = async (iid) => {
      await request("POST", `/api/items/${iid}/consensus`);
      await reload();
    };
    mount(
      body,
      progressCard(report.progress),
      throughputCard(report.throughput),
      rejectionCard(report.rejection),
      findingsCard(report.findings),
      agreementCard(report.agreement, canManage, merge),
      goldCard(report.gold),
    );
    root.querySelector(".dashboard")?.setAttribute("data-generated-at", report.generated_at);
  }

  root.append(
    h(
      "div",
      { class: "page dashboard", "data-project-id": pid },
      h(
        "div",
        { class: "page-head" },
        h("h1", {}, `${project.name}: quality`),
        h("div", { class: "head-actions" }, "Report: ", ...links),
      ),
      canManage ? managerPanel(pid, () => reload()) : null,
      body,
    ),
  );
  try {
    await reload();
  } catch (error) {
    mount(body, h("p", { class: "error" }, error.detail || error.message));
  }
  return {};
}
