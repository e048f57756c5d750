// @ts-check
/**
 * The review workflow in the editor: the item's state, the moves the user may make
 * (buttons in the toolbar: Start, Submit, Start review, Accept, Return) and whether
 * they may edit at all.
 *
 * The server decides (GET /api/items/{iid} carries `role`, `can_edit` and `moves`); this
 * module only shows it and asks. A submission the automated checks refuse comes back
 * as a 422 with the findings, which are listed for the user to fix. A return needs a
 * comment: the button is refused with a hint until an open comment exists.
 *
 * Test hooks: every move button carries `data-move` (the state it moves to).
 */

import { ApiError, api, request } from "../api.js";
import { h, mount, toolButton } from "../dom.js";

export const STATUS_ORDER = ["new", "annotating", "submitted", "in_review", "returned", "accepted"];

export const STATUS_TEXT = {
  new: "New",
  annotating: "Annotating",
  submitted: "Submitted",
  in_review: "In review",
  returned: "Returned",
  accepted: "Accepted",
};

export const MOVE_TEXT = {
  annotating: "Start",
  submitted: "Submit",
  in_review: "Start review",
  accepted: "Accept",
  returned: "Return",
};

const MOVE_TITLE = {
  annotating: "Start annotating this item",
  submitted: "Submit for review; the automated checks run first (D)",
  in_review: "Claim the item for review (D)",
  accepted: "Accept the annotation (D)",
  returned: "Return it to the annotator; say what to fix in a comment first",
};

export class ReviewTools {
  /**
   * @param {object} options
   * @param {object} options.item the item as GET /api/items/{iid} answers
   * @param {import("./chrome.js").EditorChrome} options.chrome
   * @param {() => Promise<boolean>} options.flush saves pending edits first
   * @param {(fn: () => Promise<any>) => Promise<any>} options.exclusive runs with no save in flight
   * @param {(status: string) => void} options.onStatus the item's new state
   * @param {() => number} options.openComments how many unresolved comments the item has
   * @param {() => number} [options.unconfirmed] how many instances nobody has confirmed yet
   */
  constructor({ item, chrome, flush, exclusive, onStatus, openComments, unconfirmed }) {
    this.unconfirmed = unconfirmed || (() => 0);
    this.item = item;
    this.chrome = chrome;
    this.flush = flush;
    this.exclusive = exclusive;
    this.onStatus = onStatus;
    this.openComments = openComments;
    this.role = item.role || "manager";
    this.canEdit = item.can_edit !== false;
    this.moves = item.moves || [];
    this.show();
  }

  show() {
    this.chrome.setMoves(this.moves, (to) => this.move(to), MOVE_TEXT, MOVE_TITLE);
    this.chrome.setReadOnly(!this.canEdit);
  }

  /** D: the next step forward (submit, claim, accept); never a return. */
  primary() {
    const forward = this.moves.filter((m) => m !== "returned");
    if (!forward.length) {
      this.chrome.say(`Nothing to do here as ${this.role} while the item is ${this.item.status}.`);
      return;
    }
    const to = forward[forward.length - 1];
    // a new item's Start only does what the first save does anyway: D goes on to submit
    if (to === "annotating") this.move(to).then((moved) => moved && this.primary());
    else this.move(to);
  }

  async move(to) {
    if (to === "returned" && this.openComments() === 0) {
      this.chrome.say("Add a comment saying what to fix (on the keypoint), then return the item.");
      return;
    }
    const unchecked = to === "submitted" ? this.unconfirmed() : 0;
    if (
      unchecked &&
      !window.confirm(
        `${unchecked} model suggestion${unchecked === 1 ? " is" : "s are"} not confirmed yet ` +
          "(drawn dashed; C confirms the selected one). Submit anyway?",
      )
    ) {
      this.chrome.say("Not submitted: confirm or delete the suggestions first.");
      return;
    }
    if (!(await this.flush())) {
      this.chrome.say("Save the annotation first (see the message above).");
      return;
    }
    try {
      const answer = await this.exclusive(() => api.setStatus(this.item.id, to));
      await this.reload(answer.status);
      const warnings = (answer.findings || []).length;
      this.chrome.say(
        `${STATUS_TEXT[answer.status]}.` +
          (warnings ? ` ${warnings} warning(s) of the automated checks; the reviewer sees them.` : ""),
      );
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 422 && err.body && err.body.findings) {
        const blocking = err.body.findings.filter((f) => f.blocking);
        const where = blocking
          .slice(0, 3)
          .map(
            (f) =>
              `${f.check.replaceAll("_", " ")}${f.keypoint ? ` at ${f.keypoint.replaceAll("_", " ")}` : ""}`,
          );
        this.chrome.say(`Not submitted: ${where.join("; ")}${blocking.length > 3 ? "; …" : ""}`);
        return;
      }
      this.chrome.say(`Not moved: ${err.message}`);
    }
  }

  /** After a move what the user may do changes (an annotator cannot edit once submitted). */
  async reload(status) {
    this.item.status = status;
    try {
      const fresh = await api.item(this.item.id);
      this.canEdit = fresh.can_edit !== false;
      this.moves = fresh.moves || [];
    } catch {
      this.moves = [];
    }
    this.onStatus(status);
    this.show();
  }
}

/**
 * The item's history in the side panel: every stored version (who, when, what) with a
 * link to its document and, for those who may edit, "Restore" (saved as a new version
 * on top of the current one; the editor then reloads the item).
 *
 * Test hooks: `li.version[data-version]`, `button.restore-version`,
 * `button.compare-version` (editor/compare.js shows the changes).
 */
export class HistoryPanel {
  /**
   * @param {HTMLElement} root where the panel section goes
   * @param {object} options
   * @param {number} options.itemId
   * @param {() => Promise<boolean>} options.flush saves pending edits first
   * @param {() => number} options.version the version the editor is based on
   * @param {() => boolean} options.canEdit
   * @param {(text: string) => void} options.say
   * @param {() => void} options.reload shows the restored item
   * @param {(version: number) => void} [options.compare] shows what changed since then
   */
  constructor(root, { itemId, flush, version, canEdit, say, reload, compare }) {
    this.itemId = itemId;
    this.flush = flush;
    this.version = version;
    this.canEdit = canEdit;
    this.say = say;
    this.reload = reload;
    this.compare = compare;
    this.list = h("ol", { class: "version-list", "aria-label": "Versions" });
    this.details = h(
      "details",
      { class: "panel-section history", onToggle: () => this.details.open && this.refresh() },
      h("summary", {}, "History"),
      this.list,
    );
    root.append(this.details);
  }

  async refresh() {
    let history;
    try {
      history = await request("GET", `/api/items/${this.itemId}/history`);
    } catch (err) {
      this.say(`History could not be loaded: ${err.message}`);
      return;
    }
    mount(
      this.list,
      history.versions.map((v) =>
        h(
          "li",
          { class: "version", "data-version": v.version },
          h("strong", {}, `v${v.version}`),
          ` ${v.action} by ${v.user ? v.user.username : "someone"}, `,
          `${new Date(v.created_at).toLocaleString()} · ${v.instances} instance(s) `,
          h(
            "a",
            { href: `/api/items/${this.itemId}/history/${v.version}`, target: "_blank" },
            "view",
          ),
          v.version !== history.version && this.compare
            ? toolButton("Compare", `What changed since version ${v.version}`, () =>
                this.compare(v.version),
              { class: "small compare-version" })
            : null,
          v.version !== history.version && this.canEdit()
            ? toolButton("Restore", `Make version ${v.version} the current one`, () =>
                this.restore(v.version),
              { class: "small restore-version" })
            : null,
        ),
      ),
    );
  }

  async restore(version) {
    if (!(await this.flush())) {
      this.say("Save the annotation first (see the message above).");
      return;
    }
    try {
      await request("POST", `/api/items/${this.itemId}/restore`, {
        body: { version, base_version: this.version() },
      });
    } catch (err) {
      this.say(`Not restored: ${err.message}`);
      return;
    }
    this.reload();
  }
}
