// @ts-check
/**
 * The editor's frame: toolbar, stage, side panel frame, conflict banner and status
 * bar. It only shows state and forwards button presses (`actions`); the editor page
 * decides what they do. The root element carries the data attributes browser tests
 * read: data-item-id, data-version, data-zoom, data-save-state.
 */

import { h, mount, toolButton } from "../dom.js";
import { STATUS_TEXT } from "./review.js";

const SAVE_TEXT = {
  saved: "All changes saved",
  saving: "Saving…",
  dirty: "Unsaved changes",
  conflict: "Not saved: conflict",
};

export class EditorChrome {
  constructor(root, item, actions) {
    this.actions = actions;
    const tb = (label, title, action, attrs) => toolButton(label, title, actions[action], attrs);

    this.undoButton = tb("↶", "Undo (Ctrl+Z)", "undo");
    this.redoButton = tb("↷", "Redo (Ctrl+Shift+Z)", "redo");
    this.zoomLabel = h("span", { class: "zoom-label", "aria-live": "off" }, "100%");
    this.loupeButton = tb("Loupe", "Loupe on/off (L)", "toggleLoupe", { "aria-pressed": "false" });
    // the review workflow's moves (Submit, Accept, Return...), filled in by review.js
    this.workflowGroup = h("div", { class: "tool-group workflow", "aria-label": "Review" });
    this.saveIndicator = h(
      "span",
      { class: "save-indicator", role: "status" },
      h("span", { class: "dot" }),
      h("span", { class: "text" }),
    );
    const prev = tb("‹ Prev", "Previous item (,)", "prev", { disabled: item.prev_id == null });
    const next = tb("Next ›", "Next item (.)", "next", { disabled: item.next_id == null });
    this.nextButton = next;
    this.hasNext = item.next_id != null;
    // Label next mode: Next follows the project's queue (pages/labelnext.js orders it)
    // a round button: at 1400 px the toolbar keeps one row (a second row would move the
    // stage, and every point under the pointer, whenever the wrap changed)
    this.labelNextButton = tb("⇢", "Label next: Next follows the queue of items that help the model most", "toggleLabelNext", {
      id: "label-next-toggle",
      class: "round",
      "aria-label": "Label next",
      "aria-pressed": "false",
    });

    const toolbar = h(
      "div",
      { class: "editor-toolbar", role: "toolbar", "aria-label": "Editor tools" },
      h("div", { class: "tool-group" }, prev, next, this.labelNextButton),
      h("div", { class: "tool-group" }, this.undoButton, this.redoButton),
      h(
        "div",
        { class: "tool-group" },
        tb("−", "Zoom out (-)", "zoomOut"),
        this.zoomLabel,
        tb("+", "Zoom in (+)", "zoomIn"),
        tb("Fit", "Fit to screen (F)", "fit"),
        tb("1:1", "Actual size (1)", "actualSize"),
        this.loupeButton,
      ),
      h(
        "div",
        { class: "tool-group" },
        tb("+ Instance", "New instance (N)", "newInstance"),
        tb("Box", "Draw a bounding box: B, then drag (B)", "armBox"),
      ),
      h("div", { class: "spacer" }),
      this.saveIndicator,
      this.workflowGroup,
      tb("?", "Keyboard shortcuts (?)", "help", { class: "round" }),
    );

    this.toolbar = toolbar;
    this.svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    this.svg.setAttribute("class", "stage");
    this.svg.setAttribute("role", "application");
    this.svg.setAttribute("tabindex", "0");
    this.svg.setAttribute(
      "aria-label",
      `Image ${item.file_name}, ${item.width} by ${item.height} pixels. ` +
        "Click to place the next keypoint; press ? for shortcuts.",
    );
    this.svg.dataset.mode = "place";

    this.nextChip = h("div", { class: "next-chip", "aria-live": "polite" });
    this.loading = h("div", { class: "stage-loading" }, "Loading image…");
    this.conflictText = h("p", {});
    this.conflictBanner = h(
      "div",
      { class: "conflict-banner", role: "alert", hidden: true },
      h("strong", {}, "Someone else saved this item while you were editing."),
      this.conflictText,
      h(
        "div",
        { class: "banner-actions" },
        h(
          "button",
          { type: "button", class: "tool primary", onClick: actions.reapply },
          "Re-apply my changes on the latest version",
        ),
        h(
          "button",
          { type: "button", class: "tool", onClick: actions.discard },
          "Discard mine and load theirs",
        ),
      ),
    );
    this.stageWrap = h("div", { class: "stage-wrap" }, this.svg, this.loading);
    // the chip and the banner sit above the image, never on it
    this.stageBar = h("div", { class: "stage-bar" }, this.nextChip, this.conflictBanner);

    this.statusBadge = h("span", { class: "status-badge" });
    this.versionText = h("span", { class: "muted" });
    this.panelBody = h("div", { class: "panel-body" });
    const panel = h(
      "aside",
      { class: "side-panel", "aria-label": "Item and instances" },
      h(
        "section",
        { class: "panel-section item-info" },
        h("div", { class: "file-name", title: item.file_name }, item.file_name),
        h(
          "div",
          { class: "item-meta" },
          `${item.width} × ${item.height} px`,
          this.statusBadge,
          this.versionText,
        ),
      ),
      this.panelBody,
    );

    this.message = h("span", { class: "message", "aria-live": "polite" });
    this.cursorText = h("span", { class: "cursor-pos mono" });
    const statusBar = h(
      "footer",
      { class: "status-bar" },
      this.message,
      h("span", { class: "spacer" }),
      this.cursorText,
      h("span", { class: "muted" }, "? shortcuts"),
    );

    this.root = h(
      "div",
      { class: "editor", "data-item-id": item.id, "data-save-state": "saved" },
      toolbar,
      h(
        "div",
        { class: "editor-body" },
        h("div", { class: "stage-column" }, this.stageBar, this.stageWrap),
        panel,
      ),
      statusBar,
    );
    root.replaceChildren(this.root);
  }

  /** A feature's own group of tools (e.g. model suggestions), before the spacer. */
  addToolGroup(group) {
    this.toolbar.insertBefore(group, this.toolbar.querySelector(":scope > .spacer"));
  }

  setImageLoaded(loaded) {
    this.loading.hidden = loaded;
  }

  setZoom(scale) {
    this.root.dataset.zoom = String(scale);
    const percent = scale * 100;
    this.zoomLabel.textContent = `${percent < 10 ? percent.toFixed(1) : Math.round(percent)}%`;
  }

  setVersion(version) {
    this.root.dataset.version = String(version);
    this.versionText.textContent = `version ${version}`;
  }

  setItemStatus(status) {
    this.root.dataset.itemStatus = status;
    this.statusBadge.textContent = STATUS_TEXT[status] || status;
    this.statusBadge.className = `status-badge ${status}`;
  }

  /** One button per state the user may move the item to (`data-move`), last one primary. */
  setMoves(moves, onMove, labels, titles) {
    mount(
      this.workflowGroup,
      moves.map((to, n) =>
        toolButton(labels[to] || to, titles[to] || to, () => onMove(to), {
          class: `${n === moves.length - 1 && to !== "returned" ? "primary" : ""} move`,
          "data-move": to,
        }),
      ),
    );
  }

  /** An item the user may not change: the stage says so and takes no edits. */
  setReadOnly(readOnly) {
    this.root.dataset.readOnly = readOnly ? "true" : "false";
  }

  setSaveState(state, error) {
    this.root.dataset.saveState = state;
    this.saveIndicator.className = `save-indicator ${state}${error ? " error" : ""}`;
    this.saveIndicator.querySelector(".text").textContent =
      error && state === "dirty" ? error : SAVE_TEXT[state];
  }

  showConflict(conflict) {
    this.conflictBanner.hidden = !conflict;
    if (conflict) {
      this.conflictText.textContent =
        `The server now has version ${conflict.version}. Your changes are still here and ` +
        "have not been saved; nothing is lost until you choose.";
    }
  }

  setUndoRedo(canUndo, canRedo) {
    this.undoButton.disabled = !canUndo;
    this.redoButton.disabled = !canRedo;
  }

  setLoupe(on) {
    this.loupeButton.setAttribute("aria-pressed", on ? "true" : "false");
    this.loupeButton.classList.toggle("on", on);
  }

  /** The "next keypoint" hint over the stage: what a click will do right now. */
  setNextKeypoint(editor) {
    const inst = editor.selectedInstance;
    const next = editor.nextKeypoint;
    const chip = this.nextChip;
    chip.replaceChildren();
    chip.className = "next-chip";
    if (!inst) {
      chip.append(
        editor.doc.instances.length ? "Select an instance, or press " : "Press ",
        h("kbd", {}, "N"),
        " to add an instance",
      );
      chip.classList.add("idle");
    } else if (next) {
      const total = editor.keypointNames.length;
      chip.append(
        h("span", { class: "label" }, "Next"),
        h(
          "strong",
          { class: "next-name", "data-next-keypoint": next.name },
          next.name.replaceAll("_", " "),
        ),
        h("span", { class: "muted" }, `${next.index + 1}/${total}`),
        h("span", { class: "hint" }, h("kbd", {}, "S"), " skip"),
      );
    } else if (inst.keypoints.every((kp) => kp[2] > 0)) {
      chip.append("All keypoints placed · ", h("kbd", {}, "N"), " new instance");
      chip.classList.add("complete");
    } else {
      chip.append(`${inst.id}: click a keypoint's row to place it · `, h("kbd", {}, "N"), " new instance");
      chip.classList.add("idle", "viewing");
    }
  }

  pulseNextChip() {
    this.nextChip.classList.remove("pulse");
    void this.nextChip.offsetWidth; // restart the animation
    this.nextChip.classList.add("pulse");
  }

  setCursor(point, item) {
    if (!point) {
      this.cursorText.textContent = "";
      return;
    }
    const inside = point.x >= 0 && point.y >= 0 && point.x < item.width && point.y < item.height;
    const where = `x ${point.x.toFixed(1)}  y ${point.y.toFixed(1)}`;
    this.cursorText.textContent = inside ? where : `${where}  (outside)`;
  }

  /** What orders the Label next queue, kept on the toggle (the status line moves on). */
  setLabelNextNote(text) {
    this.labelNextButton.title = text;
    this.labelNextButton.dataset.note = text;
    this.say(text);
  }

  /** Shows whether Next follows the Label next queue; in that mode Next is always on. */
  setLabelNext(on) {
    this.labelNextButton.setAttribute("aria-pressed", String(on));
    this.labelNextButton.classList.toggle("active", on);
    /** @type {HTMLButtonElement} */ (this.nextButton).disabled = !on && !this.hasNext;
  }

  say(text) {
    this.message.textContent = text;
  }
}
