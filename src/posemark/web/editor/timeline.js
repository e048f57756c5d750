// @ts-check
/**
 * The timeline under a video frame: play/pause, frame steps, jump to a frame, and every
 * track of the video as a lane along the strip: its keyframes (frames a person placed
 * or confirmed) as diamonds and the frames interpolation or propagation filled as bars,
 * the selected track's lane highlighted.
 *
 * Stepping to another frame is a navigation (every frame is its own item; the editor
 * saves first). Playback is not: player.js paints prefetched frames in this page and
 * the timeline only follows the frame shown (`data-shown-frame`).
 */

import { h, mount, toolButton } from "../dom.js";

export class Timeline {
  /**
   * @param {{id: number, frame_index: number, frame_count: number, fps: number}} video
   * @param {{goTo: (frame: number) => Promise<boolean>, togglePlay: () => void}} hooks
   */
  constructor(video, { goTo, togglePlay }) {
    this.video = video;
    this.goTo = goTo;
    this.togglePlay = togglePlay;
    const last = video.frame_count - 1;
    const at = video.frame_index;
    const step = (delta, label, title, id) =>
      toolButton(label, title, () => this.goTo(at + delta), { id });
    this.playButton = toolButton("▶", "Play / pause (K)", () => this.togglePlay(), {
      id: "timeline-play",
    });
    this.frameInput = h("input", {
      id: "timeline-frame",
      type: "number",
      min: "0",
      max: String(last),
      value: String(at),
      "aria-label": "Go to frame",
      onChange: () => this.goTo(Number(this.frameInput.value)),
    });
    this.marks = h("div", { class: "timeline-marks" });
    this.strip = h(
      "div",
      {
        class: "timeline-strip",
        role: "slider",
        "aria-label": "Frames",
        "aria-valuemin": "0",
        "aria-valuemax": String(last),
        "aria-valuenow": String(at),
        onClick: (e) => this.seekFromPointer(e),
      },
      this.marks,
      (this.cursor = h("span", {
        class: "timeline-cursor",
        "data-frame": String(at),
        "data-current": "true",
        style: `left: ${this.percent(at)}%`,
      })),
    );
    this.el = h(
      "div",
      {
        class: "video-timeline",
        "data-video-id": String(video.id),
        "data-frame-index": String(at),
        "data-frame-count": String(video.frame_count),
        "data-shown-frame": String(at),
        "data-playing": "false",
      },
      h(
        "div",
        { class: "timeline-controls" },
        step(-10, "«", "Back 10 frames (<)", "timeline-back10"),
        step(-1, "‹", "Previous frame (, or Alt+←)", "timeline-prev"),
        this.playButton,
        step(1, "›", "Next frame (. or Alt+→)", "timeline-next"),
        step(10, "»", "Forward 10 frames (>)", "timeline-forward10"),
        h("label", { class: "timeline-frame" }, "Frame ", this.frameInput, ` / ${last}`),
        h("span", { class: "muted" }, `${formatTime(at / video.fps)} · ${video.fps} fps`),
      ),
      this.strip,
    );
  }

  percent(frame) {
    const last = Math.max(1, this.video.frame_count - 1);
    return (100 * frame) / last;
  }

  /**
   * Draws one lane per track: `[{track_id, keyframes, filled: [[first, last]...], color}]`;
   * `selected` is the selected instance's track (or null).
   */
  setTracks(lanes, selected) {
    const here = this.video.frame_index;
    const bar = ([first, last], lane) => {
      const width = this.percent(last) - this.percent(first);
      return h("span", {
        class: "timeline-filled",
        "data-track-id": String(lane.track_id),
        "data-from": String(first),
        "data-to": String(last),
        title: `track ${lane.track_id}: frames ${first}-${last} filled, not checked`,
        style: `left: ${this.percent(first)}%; width: max(3px, ${width}%); background: ${lane.color}`,
      });
    };
    const diamond = (f, lane) =>
      h("span", {
        class: `timeline-keyframe${f === here ? " here" : ""}`,
        "data-frame": String(f),
        "data-keyframe": "true",
        "data-track-id": String(lane.track_id),
        title: `track ${lane.track_id}: keyframe ${f}`,
        style: `left: ${this.percent(f)}%; --lane-color: ${lane.color}`,
      });
    mount(
      this.marks,
      lanes.map((lane) =>
        h(
          "div",
          {
            class: `timeline-lane${lane.track_id === selected ? " selected" : ""}`,
            "data-track-id": String(lane.track_id),
          },
          lane.filled.map((run) => bar(run, lane)),
          lane.keyframes.map((f) => diamond(f, lane)),
        ),
      ),
    );
    this.el.dataset.lanes = String(lanes.length);
  }

  /** Moves the cursor to the frame on screen (playback), without opening it. */
  showFrame(frame) {
    this.cursor.style.left = `${this.percent(frame)}%`;
    this.cursor.dataset.frame = String(frame);
    this.el.dataset.shownFrame = String(frame);
    this.strip.setAttribute("aria-valuenow", String(frame));
    this.frameInput.value = String(frame);
  }

  setPlaying(playing) {
    this.playButton.textContent = playing ? "⏸" : "▶";
    this.el.dataset.playing = String(playing);
  }

  seekFromPointer(event) {
    const box = this.strip.getBoundingClientRect();
    const ratio = Math.max(0, Math.min(1, (event.clientX - box.left) / box.width));
    this.goTo(Math.round(ratio * (this.video.frame_count - 1)));
  }

  destroy() {}
}

function formatTime(seconds) {
  const m = Math.floor(seconds / 60);
  const s = (seconds - 60 * m).toFixed(2).padStart(5, "0");
  return `${m}:${s}`;
}
