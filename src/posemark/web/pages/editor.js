// @ts-check
/**
 * The annotation editor page (#/items/{iid}): loads the item and its project's
 * skeleton, lays out toolbar, stage, side panel and status bar, and wires the editor
 * modules together. The modules each do one job (see ../editor/); this file only
 * connects them and owns the page lifecycle (leaving flushes the autosave).
 */

import { api, getCsrfToken } from "../api.js";
import { h } from "../dom.js";
import { AnnotationEditor } from "../editor/controller.js";
import { mergeMyChanges, normalizeDocument, sameDocument } from "../editor/document.js";
import { clearDraft, loadDraft, saveDraft } from "../editor/drafts.js";
import { HelpOverlay } from "../editor/help.js";
import { bindShortcuts } from "../editor/keys.js";
import { Loupe } from "../editor/loupe.js";
import { SidePanel } from "../editor/panel.js";
import { PointerInput } from "../editor/pointer.js";
import { OverlayRenderer } from "../editor/render.js";
import { AutoSaver } from "../editor/save.js";
import { ViewTransform } from "../editor/view.js";
import { EditorChrome } from "../editor/chrome.js";
import { VideoTools } from "../editor/tracks.js";
import { SuggestTool } from "../editor/suggest.js";
import { GuidelineCard } from "../editor/guideline.js";
import { OccludedEstimator } from "../editor/occluded.js";
import { ItemFindings } from "../editor/findings.js";
import { CommentsPanel } from "../editor/comments.js";
import { copyPerson, pastedPerson } from "../editor/clipboard.js";
import { HistoryPanel, ReviewTools } from "../editor/review.js";
import { VersionCompare } from "../editor/compare.js";

/** Image pixels a paste on top of its original is shifted by (down and right). */
const PASTE_OFFSET = 12;

/** Projects rarely change while annotating; caching them makes next/previous instant. */
const projectCache = new Map();

async function loadProject(pid) {
  if (!projectCache.has(pid)) projectCache.set(pid, await api.project(pid));
  return projectCache.get(pid);
}

/** Keeps `skeleton.sides` usable even if a server omits it (everything "center"). */
function skeletonWithSides(skeleton) {
  const sides = Array.isArray(skeleton.sides)
    ? skeleton.sides
    : skeleton.keypoints.map(() => "center");
  return { ...skeleton, sides, edges: skeleton.edges || [] };
}

function labelNextKey(pid) {
  return `posemark.labelNext.${pid}`;
}

/** What the Label next queue is ordered by, or why Next has nothing to give. */
function queueText(answer) {
  if (answer.basis == null) {
    return "No Label next queue yet: a manager orders it on the project page (Order Label next queue).";
  }
  const by =
    answer.basis === "diversity"
      ? "image diversity only (no trained model yet)"
      : `the uncertainty of model ${answer.basis.replace("model:", "")} and image diversity`;
  if (answer.item_id == null) return `The Label next queue (by ${by}) is used up: order it again on the project page.`;
  return `Label next: Next follows the queue ordered by ${by}.`;
}

export async function editorPage(root, { iid }, app) {
  root.append(h("div", { class: "page-loading" }, "Loading item…"));
  const item = await api.item(iid);
  const project = await loadProject(item.project_id);
  const skeleton = skeletonWithSides(project.skeleton);
  app.setCrumbs([
    { label: "Projects", href: "#/projects" },
    { label: project.name, href: `#/projects/${project.id}` },
    { label: item.file_name },
  ]);
  return new EditorPage(root, item, skeleton, app);
}

class EditorPage {
  constructor(root, item, skeleton, app) {
    this.item = item;
    this.app = app;
    this.itemStatus = item.status;
    this.fitted = true;
    this.fitting = false;
    this.cursor = null;

    this.editor = new AnnotationEditor(skeleton, item.annotation);
    this.chrome = new EditorChrome(root, item, {
      prev: () => this.goTo(item.prev_id),
      next: () => this.next(),
      toggleLabelNext: () => this.setLabelNext(!this.labelNext),
      undo: () => this.editor.undo(),
      redo: () => this.editor.redo(),
      zoomOut: () => this.zoomStep(1 / Math.SQRT2),
      zoomIn: () => this.zoomStep(Math.SQRT2),
      fit: () => this.fit(),
      actualSize: () => this.view.actualSize(),
      toggleLoupe: () => this.toggleLoupe(),
      newInstance: () => this.editor.addInstance(),
      armBox: () => this.armBox(),
      toggleDone: () => this.toggleDone(),
      help: () => this.help.toggle(),
      reapply: () => this.reapplyMine(),
      discard: () => this.discardMine(),
    });
    const { svg, stageWrap } = this.chrome;
    this.labelNext = false;
    try {
      this.labelNext = window.localStorage.getItem(labelNextKey(item.project_id)) === "1";
    } catch {
      // storage off: the mode starts off
    }
    this.chrome.setLabelNext(this.labelNext);
    this.view = new ViewTransform(svg);
    this.renderer = new OverlayRenderer(svg, skeleton);
    this.renderer.setImage(api.imageUrl(item.id), item.width, item.height);
    this.qaFindings = new ItemFindings(item.id, (findings) => {
      this.renderer.setFindings(findings);
      this.renderer.render(this.editor.doc, this.editor.selection, this.view.scale);
    });
    this.renderer.image.addEventListener("load", () => this.chrome.setImageLoaded(true));
    this.renderer.image.addEventListener("error", async () => {
      // the image route explains itself in JSON (a file moved, changed or broken)
      let message = "The image could not be loaded.";
      try {
        const body = await (await fetch(api.imageUrl(item.id))).json();
        if (body && body.detail) message = `The image could not be loaded: ${body.detail}`;
      } catch {
        // not JSON (the network failed): keep the general message
      }
      this.chrome.say(message);
    });
    this.panel = new SidePanel(this.chrome.panelBody, this.editor, skeleton.sides);
    this.comments = new CommentsPanel(this.chrome.panelBody, {
      itemId: item.id,
      editor: this.editor,
      say: (text) => this.chrome.say(text),
      onChange: (list) => {
        this.renderer.setComments(list);
        this.renderer.render(this.editor.doc, this.editor.selection, this.view.scale);
      },
    });
    this.guideline = new GuidelineCard(this.chrome.panelBody, item.project_id);
    this.occluded = new OccludedEstimator({
      item,
      editor: this.editor,
      renderer: this.renderer,
      view: this.view,
      chrome: this.chrome,
      panelRoot: this.chrome.panelBody,
    });
    this.loupe = new Loupe(stageWrap, api.imageUrl(item.id), skeleton.sides);
    this.help = new HelpOverlay(root);
    this.pointer = new PointerInput({
      svg,
      view: this.view,
      editor: this.editor,
      renderer: this.renderer,
      onCursor: (point, client) => this.cursorMoved(point, client),
      onPlaceRefused: (why) => this.placeRefused(why),
      imageSize: { width: item.width, height: item.height },
    });
    this.suggest = new SuggestTool({
      item,
      editor: this.editor,
      chrome: this.chrome,
      pointer: this.pointer,
    });
    this.saver = new AutoSaver({
      version: item.version,
      base: this.editor.doc,
      getDocument: () => this.editor.doc,
      put: (baseVersion, doc) => api.saveAnnotation(item.id, baseVersion, doc),
      onStateChange: (saver) => this.saveStateChanged(saver),
    });
    this.history = new HistoryPanel(this.chrome.panelBody, {
      itemId: item.id,
      flush: () => this.saver.flush(),
      version: () => this.saver.version,
      canEdit: () => this.review.canEdit,
      say: (text) => this.chrome.say(text),
      reload: () => window.location.reload(),
      compare: (version) => this.compare.show(version),
    });
    this.compare = new VersionCompare({
      itemId: item.id,
      root: this.history.details,
      renderer: this.renderer,
      view: this.view,
      keypoints: this.editor.keypointNames,
      say: (text) => this.chrome.say(text),
    });
    this.review = new ReviewTools({
      item,
      chrome: this.chrome,
      flush: () => this.saver.flush(),
      exclusive: (fn) => this.saver.exclusive(fn),
      onStatus: (status) => this.setItemStatus(status),
      openComments: () => this.comments.open,
      unconfirmed: () => this.editor.doc.instances.filter((inst) => !inst.confirmed).length,
    });
    // a video frame: timeline under the image, track tools in the panel
    this.video = item.video ? new VideoTools(this, item, app) : null;
    this.groupPanelExtras();

    this.unsubscribe = [
      this.editor.onChange((change) => this.documentChanged(change)),
      this.view.onChange(() => this.viewChanged()),
      bindShortcuts(this.shortcutHandlers(), {
        onSpace: (held) => this.pointer.setSpaceHeld(held),
      }),
    ];
    this.onBeforeUnload = (e) => {
      if (this.saver.hasUnsavedChanges) {
        e.preventDefault();
        e.returnValue = "";
      }
    };
    this.onPageHide = () =>
      this.saver.sendBeacon(`/api/items/${item.id}/annotation`, getCsrfToken());
    window.addEventListener("beforeunload", this.onBeforeUnload);
    window.addEventListener("pagehide", this.onPageHide);
    this.resizeObserver = new ResizeObserver(() => {
      if (this.fitted) this.fit();
    });
    this.resizeObserver.observe(svg);

    this.restoreDraft();
    this.qaFindings.refresh();
    this.comments.refresh();
    this.exposeForTests();
    this.chrome.setVersion(this.saver.version);
    this.chrome.setItemStatus(this.itemStatus);
    this.saveStateChanged(this.saver);
    this.fit();
    this.renderAll();
    this.showGuideline();
    svg.focus({ preventScroll: true });
  }

  shortcutHandlers() {
    // While the help is open or a drag is under way, other commands would act on
    // something the user cannot see or is still changing.
    const guard = (fn) => (event) => {
      if (this.help.visible || this.pointer.gesture) return;
      fn(event);
    };
    const e = this.editor;
    return {
      skip: guard(() => e.skip() || this.chrome.say("Nothing to skip: no keypoint is next.")),
      cycleVisibility: guard(
        () => e.cycleVisibility() || this.chrome.say("Select a labeled keypoint first (click it)."),
      ),
      newInstance: guard(() => e.addInstance()),
      copyInstance: guard(() => this.copyInstance()),
      pasteInstance: guard(() => this.pasteInstance()),
      estimateHidden: guard(() => this.occluded.estimateSelected()),
      acceptProposal: guard(() => this.occluded.accept()),
      confirmInstance: guard(
        () =>
          e.confirmInstance() ||
          this.chrome.say("Select an unconfirmed (suggested) instance to confirm it."),
      ),
      deleteInstance: guard(
        () => e.deleteInstance() || this.chrome.say("Select an instance to delete."),
      ),
      previousInstance: guard(() => e.selectRelative(-1)),
      nextInstance: guard(() => e.selectRelative(1)),
      armBox: guard(() => this.armBox()),
      undo: guard(() => e.undo() || this.chrome.say("Nothing to undo.")),
      redo: guard(() => e.redo() || this.chrome.say("Nothing to redo.")),
      fit: guard(() => this.fit()),
      actualSize: guard(() => this.view.actualSize()),
      zoomIn: guard(() => this.zoomStep(Math.SQRT2)),
      zoomOut: guard(() => this.zoomStep(1 / Math.SQRT2)),
      toggleLoupe: guard(() => this.toggleLoupe()),
      nextItem: guard(() => this.next()),
      previousItem: guard(() => this.goTo(this.item.prev_id)),
      toggleDone: guard(() => this.toggleDone()),
      help: () => this.help.toggle(),
      escape: () => this.escape(),
      ...(this.video ? this.video.shortcutHandlers(guard) : {}),
    };
  }

  /**
   * The keypoint list is the main tool for fixing visibility, so it keeps its room: the
   * sections after it (track, comments, guideline, estimate, history) share one region
   * of their own below it that scrolls.
   */
  groupPanelExtras() {
    const body = this.chrome.panelBody;
    const extras = h("div", { class: "panel-extras" });
    let after = false;
    for (const section of [...body.children]) {
      if (after) extras.append(section);
      if (section === this.panel.keypointSection) after = true;
    }
    body.append(extras);
  }

  // --- reacting to changes -------------------------------------------------------

  documentChanged(change) {
    if (change.docChanged && !change.preview && !this.review.canEdit && !this.reverting) {
      // the server would refuse the save: take the edit back at once, and say why
      this.reverting = true;
      this.editor.undo();
      this.reverting = false;
      this.chrome.say(`This item is ${this.itemStatus.replace("_", " ")}: you cannot edit it now.`);
      return;
    }
    this.renderAll();
    if (this.reverting) return;
    this.showGuideline(change);
    this.occluded.documentChanged(change);
    if (change.message) this.chrome.say(change.message);
    if (change.preview) return;
    if (change.docChanged) {
      this.saver.notifyChange();
      this.keepDraft();
    }
  }

  /**
   * The guideline card follows the keypoint a click will place next; a keypoint the
   * user selected without editing (clicked on the image) takes over until the next edit.
   */
  showGuideline(change = { docChanged: true }) {
    const { selection, keypointNames } = this.editor;
    const next = this.editor.nextKeypoint;
    const picked = selection.keypointIndex !== null ? keypointNames[selection.keypointIndex] : null;
    const name = !change.docChanged && picked ? picked : next ? next.name : picked;
    this.guideline.show(this.editor.selectedInstance ? name : null);
  }

  viewChanged() {
    // Once the user zooms or pans, a window resize keeps their view instead of refitting.
    if (!this.fitting) this.fitted = false;
    this.renderer.setView(this.view);
    this.renderer.render(this.editor.doc, this.editor.selection, this.view.scale);
    this.occluded.render();
    this.compare.render();
    this.chrome.setZoom(this.view.scale);
    if (this.cursor)
      this.loupe.update(this.cursor.point, this.cursor.client, this.editor.doc, this.view.scale);
  }

  renderAll() {
    const { editor } = this;
    this.renderer.setView(this.view);
    this.renderer.render(editor.doc, editor.selection, this.view.scale);
    this.panel.render();
    this.comments.renderTarget();
    this.chrome.setNextKeypoint(editor);
    this.chrome.setUndoRedo(editor.history.canUndo, editor.history.canRedo);
    this.chrome.setZoom(this.view.scale);
    if (this.cursor)
      this.loupe.update(this.cursor.point, this.cursor.client, editor.doc, this.view.scale);
  }

  saveStateChanged(saver) {
    this.chrome.setSaveState(saver.state, saver.error);
    this.chrome.setVersion(saver.version);
    if (saver.itemStatus) this.setItemStatus(saver.itemStatus);
    if (saver.state === "saved") {
      clearDraft(this.item.id);
      this.qaFindings.refresh();
    }
    this.chrome.showConflict(saver.conflict);
  }

  setItemStatus(status) {
    this.itemStatus = status;
    this.chrome.setItemStatus(status);
    // a save moves new and returned items to annotating: the buttons follow
    if (this.review && this.review.item.status !== status) this.review.reload(status);
  }

  cursorMoved(point, client) {
    this.cursor = point ? { point, client } : null;
    this.chrome.setCursor(point, this.item);
    this.loupe.update(point, client, this.editor.doc, this.view.scale);
  }

  placeRefused(why) {
    if (why === "outside") {
      this.chrome.say("That point is outside the image; keypoints go on the image.");
      return;
    }
    if (why === "no-instance") {
      this.chrome.say(
        this.editor.doc.instances.length
          ? "Select an instance (click a keypoint or the list) or press N for a new one."
          : "Press N to add an instance, then click to place its keypoints.",
      );
    } else {
      this.chrome.say("All keypoints of this instance are placed. Press N for a new instance.");
    }
    this.chrome.pulseNextChip();
  }

  // --- copy and paste a person ------------------------------------------------------

  copyInstance() {
    const inst = this.editor.selectedInstance;
    if (!inst) {
      this.chrome.say("Select a person to copy.");
      return;
    }
    copyPerson(this.editor.keypointNames, inst);
    this.chrome.say(`Copied ${inst.id}: Ctrl+V pastes it here or in another item.`);
  }

  /** A paste where the original still lies is shifted, so both can be seen. */
  pasteInstance() {
    const { person, error } = pastedPerson(this.editor.keypointNames);
    if (error) {
      this.chrome.say(error);
      return;
    }
    const same = JSON.stringify(person.keypoints);
    const covered = this.editor.doc.instances.some((i) => JSON.stringify(i.keypoints) === same);
    this.editor.pasteInstance(person, covered ? PASTE_OFFSET : 0);
  }

  // --- view ----------------------------------------------------------------------

  fit() {
    this.fitting = true;
    try {
      this.view.fit(this.item.width, this.item.height);
    } finally {
      this.fitting = false;
    }
    this.fitted = true;
  }

  zoomStep(factor) {
    if (this.cursor) {
      const p = this.view.clientToStage(this.cursor.client.x, this.cursor.client.y);
      this.view.zoomBy(factor, p.x, p.y);
    } else {
      this.view.zoomAroundCentre(factor);
    }
  }

  toggleLoupe() {
    const on = this.loupe.toggle();
    this.chrome.setLoupe(on);
    this.chrome.say(on ? "Loupe on" : "Loupe off");
  }

  armBox() {
    this.pointer.armBox(true);
    this.chrome.say("Drag on the image to draw the bounding box (Escape cancels).");
  }

  /** Escape takes back one thing at a time, the most recent and smallest first. */
  escape() {
    if (this.help.visible) this.help.hide();
    else if (this.pointer.gesture || this.pointer.boxArmed) {
      this.pointer.cancel();
      this.chrome.say("Cancelled.");
    } else if (this.occluded.showing) this.occluded.dismiss("Proposal dismissed.");
    else if (this.editor.nextKeypoint) this.editor.stopPlacing();
    else this.editor.selectInstance(null);
  }

  // --- saving, conflicts, drafts ---------------------------------------------------

  keepDraft() {
    if (sameDocument(this.editor.doc, this.saver.base)) return;
    saveDraft(this.item.id, {
      baseVersion: this.saver.version,
      base: this.saver.base,
      document: this.editor.doc,
    });
  }

  /** Brings back edits that never reached the server (closed tab, lost connection). */
  restoreDraft() {
    const draft = loadDraft(this.item.id);
    if (!draft || !draft.document) return;
    const server = this.editor.doc;
    const k = this.editor.keypointNames.length;
    const mine = normalizeDocument(draft.document, k);
    if (sameDocument(mine, server)) {
      clearDraft(this.item.id);
      return;
    }
    if (draft.baseVersion === this.item.version) {
      this.editor.replaceDocument(mine, "Restored unsaved changes from your last visit");
    } else {
      this.saver.startConflict(this.item.version, server, normalizeDocument(draft.base, k));
      this.editor.replaceDocument(mine, "Restored unsaved changes from your last visit");
    }
  }

  /** Re-applies my edits (base -> mine) onto the server's newer document and saves. */
  reapplyMine() {
    const { conflict } = this.saver;
    if (!conflict) return;
    const theirs = normalizeDocument(conflict.document, this.editor.keypointNames.length);
    const merged = mergeMyChanges(this.saver.base, this.editor.doc, theirs);
    this.saver.resolveWith(conflict.version, theirs);
    this.editor.resetDocument(
      merged.doc,
      `Re-applied my changes on version ${conflict.version}`,
      merged.renamed,
    );
  }

  /** Takes the server's document; my unsaved edits are dropped (the user asked). */
  discardMine() {
    const { conflict } = this.saver;
    if (!conflict) return;
    const theirs = normalizeDocument(conflict.document, this.editor.keypointNames.length);
    this.saver.resolveWith(conflict.version, theirs);
    this.editor.resetDocument(
      theirs,
      `Loaded version ${conflict.version}; my changes were discarded`,
    );
  }

  /** D: the item's next step in the review workflow (submit, claim, accept). */
  toggleDone() {
    this.review.primary();
  }

  // --- navigation and lifecycle ------------------------------------------------------

  /**
   * Label next mode, remembered per project in this browser: Next asks the project's
   * queue (GET /api/projects/{pid}/label-next) instead of taking the file-name order.
   */
  setLabelNext(on) {
    this.labelNext = on;
    try {
      window.localStorage.setItem(labelNextKey(this.item.project_id), on ? "1" : "0");
    } catch {
      // storage may be off (private windows): the mode then lasts for this page only
    }
    this.chrome.setLabelNext(on);
    if (on) this.describeQueue();
  }

  /** Says what orders the queue (the model, or diversity alone) when the mode is turned on. */
  async describeQueue() {
    try {
      const answer = await api.labelNext(this.item.project_id, this.item.id);
      this.chrome.setLabelNextNote(queueText(answer));
    } catch (err) {
      this.chrome.setLabelNextNote(`Label next unavailable: ${err.message}`);
    }
  }

  /** Next: the queue's next item in Label next mode, else the next in file-name order. */
  async next() {
    if (!this.labelNext) {
      this.goTo(this.item.next_id);
      return;
    }
    let answer;
    try {
      answer = await api.labelNext(this.item.project_id, this.item.id);
    } catch (err) {
      this.chrome.say(`Label next unavailable: ${err.message}`);
      return;
    }
    if (answer.item_id == null) {
      this.chrome.say(queueText(answer));
      return;
    }
    this.goTo(answer.item_id);
  }

  goTo(itemId) {
    if (itemId === null || itemId === undefined) {
      this.chrome.say("No more items in this direction.");
      return;
    }
    this.app.navigate(`#/items/${itemId}`);
  }

  /** Called by the router before leaving: saves everything, or asks. */
  async beforeLeave() {
    if (await this.saver.flush()) return true;
    return window.confirm(
      "Your latest changes are not saved on the server (they are kept in this browser). Leave anyway?",
    );
  }

  exposeForTests() {
    const page = this;
    window.posemarkEditor = {
      imageToClient: (x, y) => page.view.imageToClient(x, y),
      clientToImage: (x, y) => page.view.clientToImage(x, y),
      /** Sets the zoom, centring image point (x, y) when given. */
      setZoom(scale, x, y) {
        if (x === undefined) page.view.zoomAroundCentre(scale / page.view.scale);
        else page.view.centreOn(x, y, scale);
      },
      get zoom() {
        return page.view.scale;
      },
      get document() {
        return structuredClone(page.editor.doc);
      },
      get selection() {
        return { ...page.editor.selection };
      },
      get saveState() {
        return page.saver.state;
      },
      get version() {
        return page.saver.version;
      },
      flush: () => page.saver.flush(),
    };
  }

  destroy() {
    if (this.video) this.video.destroy();
    this.saver.stop();
    for (const off of this.unsubscribe) off();
    this.pointer.destroy();
    this.occluded.destroy();
    this.loupe.destroy();
    this.help.destroy();
    this.resizeObserver.disconnect();
    window.removeEventListener("beforeunload", this.onBeforeUnload);
    window.removeEventListener("pagehide", this.onPageHide);
    if (window.posemarkEditor && window.posemarkEditor.imageToClient) delete window.posemarkEditor;
  }
}
