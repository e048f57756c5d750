// @ts-check
/**
 * Video playback inside one editor page. Every frame is its own item, but loading an
 * item per frame (a page navigation, a document, an image) runs at a few frames per
 * second; playback instead fetches the frames' pictures ahead
 * (`GET /api/videos/{vid}/frames/{n}/image`), decodes them off the main thread
 * (`createImageBitmap`) and paints them on a canvas over the stage at the video's rate.
 * Pausing opens the frame shown, as an item, for editing.
 *
 * Frames are never dropped: when the next one is not decoded yet playback waits for it
 * (a stall, counted), so what is measured is what the user saw.
 */

/** Frames fetched at once while buffering (the server decodes and encodes in parallel
 * threads), and once playing, when the page needs the machine to paint on time. */
const CONCURRENCY = 3;
const CONCURRENCY_PLAYING = 2;
/** Frames kept decoded ahead of the one on screen (a 720p bitmap is 3.7 MB): enough
 * to ride out a slow decode on a busy machine. */
const DECODED_AHEAD = 24;

export class FramePlayer {
  /**
   * @param {object} options
   * @param {{id: number, frame_count: number, fps: number}} options.video
   * @param {number} options.from the frame playback starts after
   * @param {(bitmap: ImageBitmap) => void} options.paint draws one frame
   * @param {(frame: number) => void} options.onFrame a frame was shown
   * @param {(frame: number, error: string | null) => void} options.onStop playback ended
   */
  constructor({ video, from, paint, onFrame, onStop }) {
    this.video = video;
    this.paint = paint;
    this.onFrame = onFrame;
    this.onStop = onStop;
    this.period = 1000 / video.fps;
    // JPEG bytes are small (~60 kB at 720p): ten seconds ahead rides out a slow server
    this.lookahead = Math.max(16, Math.round(10 * video.fps));
    this.shown = from;
    this.nextToFetch = from + 1;
    this.fetched = new Map(); // frame -> Blob
    this.decoded = new Map(); // frame -> ImageBitmap
    this.decoding = new Set();
    this.inFlight = 0;
    this.running = false;
    this.started = false;
    this.requestedAt = 0;
    this.fetchedCount = 0;
    this.shownAt = [];
    this.stalls = 0;
    this.late = 0; // ms the timer fired after a frame was due, summed (a busy page)
    this.paintMs = 0;
    this.failed = null;
    this.timer = null;
  }

  get last() {
    return this.video.frame_count - 1;
  }

  start() {
    if (this.shown >= this.last) return false;
    this.running = true;
    this.requestedAt = performance.now();
    this.fill();
    this.tick();
    return true;
  }

  /** Stops; returns the frame on screen. */
  stop() {
    this.running = false;
    clearTimeout(this.timer);
    for (const bitmap of this.decoded.values()) bitmap.close();
    this.decoded.clear();
    this.fetched.clear();
    return this.shown;
  }

  /** Frames per second actually shown (first to last painted frame), or null. */
  get measuredFps() {
    const n = this.shownAt.length;
    if (n < 2) return null;
    return ((n - 1) * 1000) / (this.shownAt[n - 1] - this.shownAt[0]);
  }

  fill() {
    while (
      this.running &&
      this.inFlight < (this.started ? CONCURRENCY_PLAYING : CONCURRENCY) &&
      this.nextToFetch <= this.last &&
      this.nextToFetch - this.shown <= this.lookahead
    ) {
      this.fetchFrame(this.nextToFetch++);
    }
    for (let n = this.shown + 1; n <= this.shown + DECODED_AHEAD; n++) {
      if (this.fetched.has(n) && !this.decoded.has(n) && !this.decoding.has(n)) this.decode(n);
    }
  }

  async fetchFrame(n) {
    this.inFlight++;
    try {
      const answer = await fetch(`/api/videos/${this.video.id}/frames/${n}/image`, {
        credentials: "same-origin",
      });
      if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
      const blob = await answer.blob();
      if (this.running) {
        this.fetched.set(n, blob);
        this.fetchedCount++;
      }
    } catch (err) {
      this.failed = `frame ${n}: ${err.message}`;
    } finally {
      this.inFlight--;
      this.fill();
    }
  }

  async decode(n) {
    this.decoding.add(n);
    try {
      // decoded off the main thread; scaling it here would run on the main thread
      const bitmap = await createImageBitmap(this.fetched.get(n));
      if (this.running && n > this.shown) this.decoded.set(n, bitmap);
      else bitmap.close();
    } catch (err) {
      this.failed = `frame ${n}: ${err.message}`;
    } finally {
      this.decoding.delete(n);
      this.fetched.delete(n);
      this.fill();
    }
  }

  /** Consecutive frames after the one on screen that are fetched or decoded. */
  get buffered() {
    let n = this.shown + 1;
    while (this.decoded.has(n) || this.fetched.has(n) || this.decoding.has(n)) n++;
    return n - this.shown - 1;
  }

  /**
   * Whether enough is buffered to start: a second's worth when the server delivers
   * frames faster than real time; otherwise the rest of the clip or the whole look-ahead
   * (a slow server means a longer wait before the first frame, not a stuttering clip,
   * and while playing the page gets the machine to itself).
   */
  get canStart() {
    const remaining = this.last - this.shown;
    const buffered = this.buffered;
    if (buffered >= remaining) return true;
    let decoded = 0;
    while (this.decoded.has(this.shown + 1 + decoded)) decoded++;
    if (decoded < Math.min(DECODED_AHEAD, remaining)) return false;
    const seconds = (performance.now() - this.requestedAt) / 1000;
    const rate = seconds > 0 ? this.fetchedCount / seconds : 0;
    if (rate >= 1.2 * this.video.fps) return buffered >= Math.round(this.video.fps);
    return buffered >= this.lookahead;
  }

  /** Runs `tick` again when the next frame is due (at once when late). */
  later(wait = 4) {
    this.timer = setTimeout(() => this.tick(), Math.max(0, wait));
  }

  /** Shows the next frame when it is due and decoded; never skips one. */
  tick() {
    if (!this.running) return;
    const next = this.shown + 1;
    if (this.failed && !this.decoded.has(next)) {
      this.running = false;
      this.onStop(this.shown, this.failed);
      return;
    }
    if (!this.started) {
      if (this.canStart) {
        this.started = true;
        this.due = performance.now();
      } else {
        this.later();
        return;
      }
    }
    const now = performance.now();
    if (now < this.due) {
      this.later(this.due - now);
      return;
    }
    const bitmap = this.decoded.get(next);
    if (!bitmap) {
      this.stalls++;
      this.due = now; // behind: show the next frame as soon as it is there
      this.later();
      return;
    }
    this.decoded.delete(next);
    this.late += Math.max(0, now - this.due);
    const before = performance.now();
    this.paint(bitmap);
    this.paintMs += performance.now() - before;
    bitmap.close();
    this.shown = next;
    this.shownAt.push(performance.now());
    this.onFrame(next);
    this.fill();
    if (next >= this.last) {
      this.running = false;
      this.onStop(next, null);
      return;
    }
    // keep the video's rate: a late refresh is made up by showing the next frame sooner;
    // a second behind (a busy machine) counts again from now
    this.due += this.period;
    if (now - this.due > 1000) this.due = now;
    this.later(this.due - performance.now());
  }
}
