// @ts-check
/**
 * Tracks on a video frame: the colour of a track, the rule that a person's check makes
 * a keyframe (an edited interpolated or propagated instance, or any machine instance
 * confirmed with C, becomes human), the side-panel section with the track actions
 * (assign a track, interpolate, propagate, split, merge, swap, end) and playback.
 *
 * Bulk track actions change many frames on the server, this one included. Each one
 * first saves what is pending here, runs while the autosave is held back, then loads
 * this frame's new version, so the editor never saves over the server's result (and a
 * second editor still holding an older version of a frame gets a 409 instead).
 */

import { api, request } from "../api.js";
import { h, mount, toolButton } from "../dom.js";
import { addInstance, findInstance, newInstanceId, normalizeDocument } from "./document.js";
import { trackColor } from "./colors.js";
import { Timeline } from "./timeline.js";
import { FramePlayer } from "./player.js";

/** Sources whose instances a person has not checked yet (drawn dashed). */
export const MACHINE_SOURCES = new Set(["interpolated", "propagated"]);

/**
 * `after` with every interpolated/propagated instance whose keypoints or box differ from
 * `before`, and every machine instance (model suggestions too) that was just confirmed
 * (C), made human and confirmed: a person corrected or checked it, so it is now a
 * keyframe of its track.
 */
export function promoteEdited(before, after) {
  let changed = false;
  const instances = after.instances.map((inst) => {
    if (inst.source === "human") return inst;
    const old = findInstance(before, inst.id);
    if (!MACHINE_SOURCES.has(inst.source)) {
      if (!(inst.confirmed && old && !old.confirmed)) return inst;
      changed = true;
      return { ...inst, source: "human", confirmed: true };
    }
    const same =
      old &&
      JSON.stringify([old.keypoints, old.bbox, old.bbox_mode]) ===
        JSON.stringify([inst.keypoints, inst.bbox, inst.bbox_mode]);
    if (same && !(inst.confirmed && !old.confirmed)) return inst;
    changed = true;
    return { ...inst, source: "human", confirmed: true };
  });
  return changed ? { ...after, instances } : after;
}

/** A copy of `doc` whose instance `instanceId` has the given fields. */
function withFields(doc, instanceId, fields) {
  return {
    ...doc,
    instances: doc.instances.map((inst) =>
      inst.id === instanceId ? { ...inst, ...fields } : inst,
    ),
  };
}

/**
 * Everything a video frame adds to the editor page: the timeline, the track section of
 * the side panel, the promotion rule on edits and the video shortcuts.
 */
export class VideoTools {
  constructor(page, item, app) {
    this.page = page;
    this.item = item;
    this.video = item.video;
    this.app = app;
    this.summary = [];
    this.busy = false;
    const root = page.chrome.root;
    root.dataset.videoId = String(this.video.id);
    root.dataset.frameIndex = String(this.video.frame_index);

    // an edited machine instance becomes human in the same undoable step
    const editor = page.editor;
    const commit = editor.commit.bind(editor);
    editor.commit = (doc, selection, label) =>
      commit(promoteEdited(editor.history.current.doc, doc), selection, label);

    this.timeline = new Timeline(this.video, {
      goTo: (frame) => this.goToFrame(frame),
      togglePlay: () => this.togglePlay(),
    });
    this.player = null;
    this.canvas = h("canvas", { class: "playback-canvas", hidden: true });
    page.chrome.stageWrap.append(this.canvas);
    root.lastElementChild.before(this.timeline.el);
    this.panel = this.buildPanel();
    // right under the keypoints, inside the panel's scrolling body (never over it)
    page.panel.keypointSection.after(this.panel);
    this.offChange = editor.onChange(() => this.render());
    this.refreshSummary();
    this.render();
    // the next frame is the likely next request (stepping, playing): fetch it now, the
    // browser keeps it (frame images are cacheable)
    if (item.next_id) new Image().src = api.imageUrl(item.next_id);
  }

  // --- the side panel ------------------------------------------------------------

  buildPanel() {
    this.trackSelect = h("select", {
      id: "track-select",
      "aria-label": "Track of the selected instance",
      onChange: () => this.assignTrack(this.trackSelect.value),
    });
    this.otherSelect = h("select", { id: "track-other", "aria-label": "Other track" });
    this.propagateN = h("input", {
      id: "propagate-n",
      type: "number",
      value: "10",
      step: "1",
      "aria-label": "Frames to propagate (negative: backward)",
    });
    this.swatch = h("span", { class: "track-swatch" });
    this.sourceChip = h("span", { class: "chip track-source" });
    const act = (id, label, title, method) =>
      toolButton(label, title, () => this[method](), { id });
    const row = (...children) => h("div", { class: "track-actions" }, ...children);
    return h(
      "section",
      { class: "panel-section track-panel" },
      h("div", { class: "section-head" }, h("h2", {}, "Track"), this.swatch, this.sourceChip),
      h("label", { class: "track-row" }, "Track ", this.trackSelect),
      row(
        act("track-new", "New track (T)", "Give the selected instance a new track", "newTrack"),
        act(
          "track-confirm",
          "Keyframe",
          "Make this frame a keyframe of the selected track: the instance counts as placed by a person (C on a suggestion does the same)",
          "confirm",
        ),
        act("track-interpolate", "Interpolate (I)", "Fill between keyframes", "interpolate"),
      ),
      row(
        act("track-propagate", "Propagate (P)", "Carry the track by optical flow", "propagate"),
        this.propagateN,
        h("span", { class: "muted" }, "frames"),
      ),
      row(
        act(
          "track-copy-previous",
          "Copy previous frame",
          "Copy the people of the previous frame that are not on this one yet (the selected person's track only, when it has one)",
          "copyPrevious",
        ),
      ),
      row(
        act("track-split", "Split here", "A new track id from this frame on", "split"),
        act("track-end", "End here", "Delete this track after this frame", "end"),
      ),
      row(
        h("label", {}, "with ", this.otherSelect),
        act("track-merge", "Merge", "The other track becomes this one", "merge"),
        act("track-swap", "Swap from here", "Exchange the identities from here on", "swap"),
      ),
    );
  }

  /** Track ids known in the video (server summary) and on this frame (unsaved too). */
  knownTracks() {
    const ids = new Set(this.summary.map((t) => t.track_id));
    for (const inst of this.page.editor.doc.instances)
      if (inst.track_id !== null && inst.track_id !== undefined) ids.add(inst.track_id);
    return [...ids].sort((a, b) => a - b);
  }

  get selectedTrack() {
    const inst = this.page.editor.selectedInstance;
    return inst && inst.track_id !== null && inst.track_id !== undefined ? inst.track_id : null;
  }

  /**
   * Every track's lane for the timeline: the server's keyframes and filled runs,
   * corrected by this frame's state (unsaved edits included).
   */
  lanes() {
    const here = this.video.frame_index;
    const onFrame = new Map();
    for (const inst of this.page.editor.doc.instances)
      if (inst.track_id !== null && inst.track_id !== undefined) onFrame.set(inst.track_id, inst);
    return this.knownTracks().map((track) => {
      const found = this.summary.find((t) => t.track_id === track);
      const keyframes = new Set(found ? found.keyframes : []);
      let filled = found && found.filled ? found.filled : [];
      const inst = onFrame.get(track);
      keyframes.delete(here);
      if (inst && inst.source === "human") {
        keyframes.add(here);
        filled = filled.flatMap(([a, b]) =>
          here < a || here > b
            ? [[a, b]]
            : [
                [a, here - 1],
                [here + 1, b],
              ].filter(([x, y]) => x <= y),
        );
      }
      return {
        track_id: track,
        keyframes: [...keyframes].sort((a, b) => a - b),
        filled,
        color: trackColor(track),
      };
    });
  }

  render() {
    const inst = this.page.editor.selectedInstance;
    const tracks = this.knownTracks();
    const track = this.selectedTrack;
    mount(
      this.trackSelect,
      h("option", { value: "" }, inst ? "no track" : "select an instance"),
      tracks.map((t) => h("option", { value: String(t) }, `track ${t}`)),
      h("option", { value: "new" }, `new track (${(tracks.at(-1) ?? 0) + 1})`),
    );
    this.trackSelect.value = track === null ? "" : String(track);
    this.trackSelect.disabled = !inst;
    const previous = this.otherSelect.value;
    mount(
      this.otherSelect,
      tracks.filter((t) => t !== track).map((t) => h("option", { value: String(t) }, `track ${t}`)),
    );
    if ([...this.otherSelect.options].some((o) => o.value === previous))
      this.otherSelect.value = previous;
    this.swatch.style.background = track === null ? "transparent" : trackColor(track);
    this.sourceChip.textContent = inst ? inst.source : "";
    this.panel.dataset.selectedTrack = track === null ? "" : String(track);
    this.timeline.setTracks(this.lanes(), track);
  }

  // --- edits on this frame -------------------------------------------------------

  assignTrack(value) {
    const editor = this.page.editor;
    const inst = editor.selectedInstance;
    if (!inst) {
      this.page.chrome.say("Select an instance first.");
      return;
    }
    const tracks = this.knownTracks();
    const track =
      value === "new" ? (tracks.at(-1) ?? 0) + 1 : value === "" ? null : Number(value);
    const taken = editor.doc.instances.find((i) => i.id !== inst.id && i.track_id === track);
    if (track !== null && taken) {
      this.page.chrome.say(`Track ${track} is already ${taken.id} on this frame.`);
      this.render();
      return;
    }
    editor.commit(
      withFields(editor.doc, inst.id, { track_id: track }),
      editor.selection,
      track === null ? `${inst.id}: no track` : `${inst.id}: track ${track}`,
    );
  }

  newTrack() {
    this.assignTrack("new");
  }

  confirm() {
    const editor = this.page.editor;
    const inst = editor.selectedInstance;
    if (!inst) return;
    editor.commit(
      withFields(editor.doc, inst.id, { source: "human", confirmed: true }),
      editor.selection,
      `${inst.id} accepted (keyframe)`,
    );
  }

  /**
   * Brings the previous frame's poses here as this frame's own (human) work, one
   * undoable edit: people rarely move far in one frame, so correcting a copy beats
   * placing every keypoint again. Tracks already on this frame are left alone.
   */
  async copyPrevious() {
    const { page } = this;
    const n = this.video.frame_index - 1;
    if (n < 0) {
      page.chrome.say("This is the first frame: there is no previous one.");
      return;
    }
    let previous;
    try {
      const { item_id: id } = await request("GET", `/api/videos/${this.video.id}/frames/${n}/item`);
      previous = normalizeDocument((await api.item(id)).annotation, page.editor.keypointNames.length);
    } catch (err) {
      page.chrome.say(`Frame ${n} not read: ${err.message}`);
      return;
    }
    const editor = page.editor;
    const here = new Set(editor.doc.instances.map((i) => i.track_id).filter((t) => t !== null));
    const wanted = this.selectedTrack;
    const people = previous.instances.filter((inst) =>
      wanted !== null ? inst.track_id === wanted && !here.has(wanted) : !here.has(inst.track_id) || inst.track_id === null,
    );
    if (!people.length) {
      page.chrome.say(`Nothing to copy: frame ${n} has nobody who is not here already.`);
      return;
    }
    let doc = editor.doc;
    let last = null;
    for (const inst of people) {
      last = newInstanceId(doc);
      doc = addInstance(doc, {
        ...inst,
        id: last,
        source: "human",
        confirmed: true,
        scores: undefined,
      });
    }
    editor.commit(
      doc,
      { instanceId: last, placeIndex: null, keypointIndex: null },
      `Copied ${people.length} ${people.length === 1 ? "person" : "people"} from frame ${n}`,
    );
  }

  // --- bulk actions on the server ------------------------------------------------

  requireTrack() {
    const track = this.selectedTrack;
    if (track === null) this.page.chrome.say("Select an instance that has a track.");
    return track;
  }

  otherTrack() {
    const other = this.otherSelect.value;
    if (other === "") this.page.chrome.say("Choose the other track first.");
    return other === "" ? null : Number(other);
  }

  interpolate() {
    const t = this.requireTrack();
    if (t !== null) this.bulk("Interpolated", `tracks/${t}/interpolate`, {});
  }

  propagate() {
    const t = this.requireTrack();
    const n = Math.trunc(Number(this.propagateN.value));
    if (t === null) return;
    if (!n) {
      this.page.chrome.say("Enter how many frames to propagate (negative: backward).");
      return;
    }
    this.bulk("Propagated", `tracks/${t}/propagate`, {
      from_frame: this.video.frame_index,
      n_frames: n,
    });
  }

  split() {
    const t = this.requireTrack();
    if (t !== null) this.bulk("Split", `tracks/${t}/split`, { frame: this.video.frame_index });
  }

  end() {
    const t = this.requireTrack();
    if (t !== null) this.bulk("Ended", `tracks/${t}/end`, { frame: this.video.frame_index });
  }

  merge() {
    const a = this.requireTrack();
    const b = a === null ? null : this.otherTrack();
    if (b !== null) this.bulk("Merged", "tracks/merge", { track_a: a, track_b: b });
  }

  swap() {
    const a = this.requireTrack();
    const b = a === null ? null : this.otherTrack();
    if (b !== null)
      this.bulk("Swapped", "tracks/swap", {
        track_a: a,
        track_b: b,
        from_frame: this.video.frame_index,
      });
  }

  async bulk(label, path, body) {
    const { page } = this;
    if (this.busy) return;
    if (!(await page.saver.flush())) {
      page.chrome.say("Save this frame first (see the message above).");
      return;
    }
    this.busy = true;
    this.panel.dataset.busy = "true";
    try {
      const answer = await page.saver.exclusive(() =>
        request("POST", `/api/videos/${this.video.id}/${path}`, { body }),
      );
      const n = answer.frames.length;
      await this.reloadFrame(`${label}: ${n} frame${n === 1 ? "" : "s"} changed`);
      await this.refreshSummary();
    } catch (err) {
      page.chrome.say(`${label}: not done: ${err.message}`);
    } finally {
      this.busy = false;
      delete this.panel.dataset.busy;
    }
  }

  /** Takes the server's document of this frame after a bulk action changed it. */
  async reloadFrame(message) {
    const { page } = this;
    const fresh = await api.item(this.item.id);
    const doc = normalizeDocument(fresh.annotation, page.editor.keypointNames.length);
    page.saver.resolveWith(fresh.version, doc);
    page.editor.resetDocument(doc, message);
    page.saver.notifyChange();
  }

  async refreshSummary() {
    try {
      const video = await request("GET", `/api/videos/${this.video.id}`);
      this.summary = video.tracks;
      this.render();
    } catch (err) {
      this.page.chrome.say(`Tracks not loaded: ${err.message}`);
    }
  }

  // --- frames ----------------------------------------------------------------------

  /** Opens frame `frame` (clamped); stops playback first. */
  async goToFrame(frame) {
    if (this.player) this.stopPlaying(false);
    const n = Math.max(0, Math.min(this.video.frame_count - 1, Math.trunc(frame)));
    if (n === this.video.frame_index) return false;
    try {
      const answer = await request("GET", `/api/videos/${this.video.id}/frames/${n}/item`);
      this.app.navigate(`#/items/${answer.item_id}`);
      return true;
    } catch (err) {
      this.page.chrome.say(`Frame ${n}: ${err.message}`);
      return false;
    }
  }

  // --- playback --------------------------------------------------------------------

  togglePlay() {
    if (this.player) this.stopPlaying(true);
    else this.startPlaying();
  }

  startPlaying() {
    this.sizeCanvas();
    const player = new FramePlayer({
      video: this.video,
      from: this.video.frame_index,
      paint: (bitmap) => this.paint(bitmap),
      onFrame: (frame) => this.timeline.showFrame(frame),
      onStop: (frame, error) => {
        if (error) this.page.chrome.say(`Playback stopped: ${error}`);
        this.stopPlaying(true);
      },
    });
    if (!player.start()) {
      this.canvas.hidden = true;
      this.page.chrome.say("This is the last frame.");
      return;
    }
    this.player = player;
    this.page.chrome.say("Playing (K pauses; the frame shown then opens for editing).");
    this.page.pointer.cancel();
    this.page.chrome.stageWrap.classList.add("playing");
    this.timeline.setPlaying(true);
  }

  /** Stops; with `open`, the frame on screen opens for editing (a navigation). */
  stopPlaying(open) {
    const player = this.player;
    if (!player) return;
    this.player = null;
    const frame = player.stop();
    // what the last playback achieved, kept across the navigation to the frame shown
    const frames = player.shownAt.length;
    const played = {
      fps: player.measuredFps,
      frames,
      stalls: player.stalls,
      late_ms: frames ? player.late / frames : null,
      paint_ms: frames ? player.paintMs / frames : null,
    };
    sessionStorage.setItem("posemark.playback", JSON.stringify(played));
    this.timeline.setPlaying(false);
    if (open && frame !== this.video.frame_index) {
      this.goToFrame(frame);
      return;
    }
    this.canvas.hidden = true;
    this.page.chrome.stageWrap.classList.remove("playing");
    this.timeline.showFrame(this.video.frame_index);
  }

  sizeCanvas() {
    const box = this.page.chrome.stageWrap.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(box.width * ratio);
    this.canvas.height = Math.round(box.height * ratio);
    this.canvasBox = box;
    this.canvas.hidden = false;
  }

  /** The image's place on the canvas in device pixels (same zoom and pan as the stage). */
  frameRect() {
    const { view } = this.page;
    const ratio = window.devicePixelRatio || 1;
    const origin = view.imageToClient(0, 0);
    const box = this.canvasBox;
    return {
      x: Math.round(ratio * (origin.x - box.left)),
      y: Math.round(ratio * (origin.y - box.top)),
      width: Math.max(1, Math.round(ratio * view.scale * this.item.width)),
      height: Math.max(1, Math.round(ratio * view.scale * this.item.height)),
    };
  }

  /** Draws a frame where the item's image is on screen. */
  paint(bitmap) {
    const ctx = this.canvas.getContext("2d");
    const rect = this.frameRect();
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.drawImage(bitmap, rect.x, rect.y, rect.width, rect.height);
  }

  /** Handlers for the video shortcuts in keys.js; `guard` is the page's. */
  shortcutHandlers(guard) {
    return {
      playPause: guard(() => this.togglePlay()),
      previousFrame: guard(() => this.goToFrame(this.video.frame_index - 1)),
      nextFrame: guard(() => this.goToFrame(this.video.frame_index + 1)),
      back10Frames: guard(() => this.goToFrame(this.video.frame_index - 10)),
      forward10Frames: guard(() => this.goToFrame(this.video.frame_index + 10)),
      newTrack: guard(() => this.newTrack()),
      interpolateTrack: guard(() => this.interpolate()),
      propagateTrack: guard(() => this.propagate()),
    };
  }

  destroy() {
    if (this.player) this.player.stop();
    this.offChange();
    this.timeline.destroy();
  }
}
