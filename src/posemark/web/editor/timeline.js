/**
 * The timeline under a video frame: play/pause, frame steps, jump to a frame, and the
 * keyframes of the selected track marked along the strip.
 *
 * Every frame is its own item, so moving to another frame is a navigation (the editor
 * saves first, then loads that frame's item). Playback therefore lives outside one
 * page: the module remembers which video is playing, and the next frame's timeline
 * carries on once its image has loaded, never faster than the video's frame rate.
 */

import { h, mount, toolButton } from "../dom.js";

/** The video that is playing (kept across the page changes between frames), or null. */
let playingVideo = null;

export class Timeline {
  /**
   * @param {{id: number, frame_index: number, frame_count: number, fps: number}} video
   * @param {{goTo: (frame: number, wanted?: () => boolean) => Promise<boolean>,
   *          imageLoaded: SVGImageElement}} hooks
   */
  constructor(video, { goTo, imageLoaded }) {
    this.video = video;
    this.goTo = goTo;
    this.timer = null;
    this.shownAt = performance.now();
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
      h("span", {
        class: "timeline-cursor",
        "data-frame": String(at),
        "data-current": "true",
        style: `left: ${this.percent(at)}%`,
      }),
    );
    this.el = h(
      "div",
      {
        class: "video-timeline",
        "data-video-id": String(video.id),
        "data-frame-index": String(at),
        "data-frame-count": String(video.frame_count),
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
    this.onImageLoad = () => this.continuePlaying();
    imageLoaded.addEventListener("load", this.onImageLoad);
    this.image = imageLoaded;
    if (playingVideo !== null && playingVideo !== video.id) playingVideo = null;
    this.showPlaying();
  }

  percent(frame) {
    const last = Math.max(1, this.video.frame_count - 1);
    return (100 * frame) / last;
  }

  /** Marks `frames` (the selected track's keyframes) on the strip. */
  setKeyframes(frames) {
    mount(
      this.marks,
      frames.map((f) =>
        h("span", {
          class: `timeline-keyframe${f === this.video.frame_index ? " here" : ""}`,
          "data-frame": String(f),
          "data-keyframe": "true",
          title: `keyframe ${f}`,
          style: `left: ${this.percent(f)}%`,
        }),
      ),
    );
  }

  seekFromPointer(event) {
    const box = this.strip.getBoundingClientRect();
    const ratio = Math.max(0, Math.min(1, (event.clientX - box.left) / box.width));
    this.goTo(Math.round(ratio * (this.video.frame_count - 1)));
  }

  get playing() {
    return playingVideo === this.video.id;
  }

  togglePlay() {
    if (this.playing) {
      playingVideo = null;
      clearTimeout(this.timer);
    } else if (this.video.frame_index < this.video.frame_count - 1) {
      playingVideo = this.video.id;
      this.advance(0);
    }
    this.showPlaying();
  }

  showPlaying() {
    this.playButton.textContent = this.playing ? "⏸" : "▶";
    this.el.dataset.playing = String(this.playing);
  }

  continuePlaying() {
    if (!this.playing) return;
    const due = 1000 / this.video.fps - (performance.now() - this.shownAt);
    this.advance(Math.max(0, due));
  }

  advance(delay) {
    clearTimeout(this.timer);
    this.timer = setTimeout(async () => {
      if (!this.playing) return;
      const next = this.video.frame_index + 1;
      if (next >= this.video.frame_count || !(await this.goTo(next, () => this.playing))) {
        if (this.playing) playingVideo = null; // the end, or the frame failed to open
        this.showPlaying();
      }
    }, delay);
  }

  destroy() {
    clearTimeout(this.timer);
    this.image.removeEventListener("load", this.onImageLoad);
  }
}

function formatTime(seconds) {
  const m = Math.floor(seconds / 60);
  const s = (seconds - 60 * m).toFixed(2).padStart(5, "0");
  return `${m}:${s}`;
}
