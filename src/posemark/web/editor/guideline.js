// @ts-check
/**
 * The guideline card in the editor's side panel: the placement rule, the occlusion
 * rule and the reference picture of the keypoint about to be placed (or the one just
 * selected), so the annotator reads the team's rule at the moment it matters instead
 * of in a document opened once.
 *
 * The card is `.guideline[data-keypoint]`; the guidelines come from
 * GET /api/projects/{pid}/guidelines (the project's current version) and are cached for
 * a minute per project, so stepping through items does not refetch them each time.
 */

import { request } from "../api.js";
import { h, mount } from "../dom.js";

const CACHE_MS = 60_000;
const cache = new Map();

/** The project's current guidelines `{version, document, can_edit, ...}` (cached). */
export function loadGuidelines(pid, { fresh = false } = {}) {
  const hit = cache.get(String(pid));
  if (!fresh && hit && Date.now() - hit.at < CACHE_MS) return hit.promise;
  const promise = request("GET", `/api/projects/${pid}/guidelines`);
  cache.set(String(pid), { at: Date.now(), promise });
  promise.catch(() => cache.delete(String(pid)));
  return promise;
}

/** Forgets the cached guidelines of a project (after a manager published a version). */
export function forgetGuidelines(pid) {
  cache.delete(String(pid));
}

/** A guideline's picture as a URL: shipped pictures are served by the API. */
export function pictureUrl(picture) {
  if (!picture) return null;
  if (/^https?:\/\//.test(picture)) return picture;
  return `/api/guidelines/pictures/${picture}`;
}

export function prettyName(name) {
  return name.replaceAll("_", " ");
}

/** The rule, occlusion rule and picture of one keypoint, as shown in the editor and the
 * guidelines page. */
export function guidelineBody(entry, { compact = false } = {}) {
  if (!entry) return [h("p", { class: "muted" }, "No guideline for this keypoint yet.")];
  const url = pictureUrl(entry.picture);
  return [
    url
      ? h("img", {
          class: "guideline-picture",
          src: url,
          alt: "Reference drawing with the keypoint marked",
          loading: "lazy",
          width: compact ? 90 : 140,
        })
      : null,
    h(
      "div",
      { class: "guideline-text" },
      h("p", { class: "guideline-rule" }, entry.rule),
      entry.occlusion_rule
        ? h(
            "p",
            { class: "guideline-occlusion" },
            h("strong", {}, "If hidden: "),
            entry.occlusion_rule,
          )
        : null,
    ),
  ];
}

export class GuidelineCard {
  /**
   * @param {HTMLElement} root where the card goes (the side panel)
   * @param {number|string} pid the project, whose guidelines are shown
   */
  constructor(root, pid) {
    this.pid = pid;
    this.keypoint = null;
    this.document = null;
    this.version = null;
    this.el = h("section", {
      class: "panel-section guideline",
      "data-keypoint": "",
      "aria-live": "polite",
      "aria-label": "Guideline for the keypoint",
      hidden: true,
    });
    root.append(this.el);
    loadGuidelines(pid)
      .then((answer) => {
        this.document = answer.document;
        this.version = answer.version;
        this.render();
      })
      .catch(() => {
        // The editor works without guidelines; the card stays hidden.
      });
  }

  /** Shows the guideline of keypoint `name` (null hides the card). */
  show(name) {
    if (name === this.keypoint) return;
    this.keypoint = name;
    this.render();
  }

  render() {
    const name = this.keypoint;
    this.el.dataset.keypoint = name || "";
    this.el.hidden = !name || !this.document;
    if (this.el.hidden) return;
    const entry = (this.document.keypoints || {})[name];
    mount(
      this.el,
      h(
        "div",
        { class: "section-head" },
        h("h2", {}, `Guideline · ${prettyName(name)}`),
        h(
          "a",
          {
            href: `#/projects/${this.pid}/guidelines`,
            class: "muted small-link",
            title: `All guidelines (version ${this.version})`,
          },
          "all",
        ),
      ),
      h("div", { class: "guideline-body" }, guidelineBody(entry, { compact: true })),
    );
  }
}
