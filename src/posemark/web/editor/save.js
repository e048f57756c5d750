// @ts-check
/**
 * Autosave with optimistic concurrency: every change reaches the server within a
 * second, and a change made elsewhere in the meantime is never silently overwritten
 * (and never silently overwrites ours).
 *
 * - After a change, wait DEBOUNCE_MS of quiet (but never more than MAX_WAIT_MS after
 *   the first unsaved change), then PUT the document with `base_version`.
 * - 200: `version` moves on and what was sent becomes the saved `base`; if the user
 *   edited meanwhile, the next save follows at once.
 * - 409: state "conflict". The local document is kept as it is and saving pauses
 *   until the user chooses (see `resolveWith`). `conflict` holds the server's version.
 * - Network or server failure: state "dirty", retried with back-off; a 503 (the
 *   server is overloaded) is retried after the `retry_after` seconds it asks for.
 * - Any other refusal (a 400 naming a bad field): state "dirty" with the message;
 *   the next edit tries again.
 *
 * States (exposed as data-save-state): saved, saving, dirty, conflict.
 */

import { sameDocument } from "./document.js";

export const DEBOUNCE_MS = 300;
export const MAX_WAIT_MS = 800;
const RETRY_MS = [1000, 2000, 5000, 10000];

export class AutoSaver {
  /**
   * @param {object} options
   * @param {number} options.version the server's version of `base`
   * @param {object} options.base the document as the server has it
   * @param {() => object} options.getDocument the editor's current document
   * @param {(baseVersion: number, doc: object) => Promise<{version: number, status: string}>} options.put
   * @param {(saver: AutoSaver) => void} options.onStateChange
   */
  constructor({ version, base, getDocument, put, onStateChange }) {
    this.version = version;
    this.base = base;
    this.getDocument = getDocument;
    this.put = put;
    this.onStateChange = onStateChange;
    this.state = "saved";
    this.error = null;
    this.conflict = null;
    this.itemStatus = null;
    this.timer = null;
    this.inFlight = null;
    this.firstUnsavedAt = null;
    this.failures = 0;
    this.stopped = false;
    this.held = false;
  }

  get hasUnsavedChanges() {
    return this.state !== "saved";
  }

  setState(state, error = null) {
    const changed = state !== this.state || error !== this.error;
    this.state = state;
    this.error = error;
    if (changed) this.onStateChange(this);
  }

  /** Call after every edit of the document (not for drag previews). */
  notifyChange() {
    if (this.stopped || this.conflict) return;
    if (this.inFlight) return; // the in-flight save's completion handler picks this up
    if (sameDocument(this.getDocument(), this.base)) {
      clearTimeout(this.timer);
      this.firstUnsavedAt = null;
      this.setState("saved");
      return;
    }
    this.firstUnsavedAt ??= Date.now();
    this.setState("dirty", this.error);
    this.schedule(DEBOUNCE_MS);
  }

  schedule(debounce) {
    clearTimeout(this.timer);
    const waited = Date.now() - (this.firstUnsavedAt ?? Date.now());
    const delay = Math.max(0, Math.min(debounce, MAX_WAIT_MS - waited));
    this.timer = setTimeout(() => this.saveNow(), delay);
  }

  /** Sends the current document now (one request at a time); resolves when it is answered. */
  async saveNow() {
    clearTimeout(this.timer);
    if (this.stopped || this.conflict) return;
    if (this.held) {
      this.schedule(DEBOUNCE_MS);
      return;
    }
    if (this.inFlight) return this.inFlight;
    const doc = this.getDocument();
    if (sameDocument(doc, this.base)) {
      this.firstUnsavedAt = null;
      this.setState("saved");
      return;
    }
    this.setState("saving");
    this.inFlight = this.send(doc);
    try {
      await this.inFlight;
    } finally {
      this.inFlight = null;
    }
    if (this.stopped || this.conflict || this.state === "dirty") return;
    // Edits made while the request was on its way go out next, without extra delay.
    if (!sameDocument(this.getDocument(), this.base)) {
      this.firstUnsavedAt = Date.now();
      this.setState("dirty");
      this.schedule(0);
    } else {
      this.firstUnsavedAt = null;
      this.setState("saved");
    }
  }

  async send(doc) {
    try {
      const answer = await this.put(this.version, doc);
      this.version = answer.version;
      this.itemStatus = answer.status;
      this.base = doc;
      this.failures = 0;
      this.error = null;
    } catch (err) {
      if (err.status === 409 && err.body) {
        this.conflict = { version: err.body.current_version, document: err.body.current };
        this.setState("conflict", err.message);
      } else if (err.status === 0 || err.status >= 500) {
        // an overloaded server (503) says when to come back: the edit stays and waits
        const asked = err.body && Number(err.body.retry_after);
        const backoff = RETRY_MS[Math.min(this.failures, RETRY_MS.length - 1)];
        const wait = asked > 0 ? asked * 1000 : backoff;
        this.failures++;
        this.setState("dirty", `Not saved: ${err.message} Retrying…`);
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.saveNow(), wait);
      } else {
        this.setState("dirty", `Not saved: ${err.message}`);
      }
    }
  }

  /**
   * Saves everything now and waits; true when the server has it all. Used before
   * leaving the item so that navigation never drops an edit.
   */
  async flush() {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (this.conflict) return false;
      if (this.inFlight) await this.inFlight.catch(() => {});
      if (sameDocument(this.getDocument(), this.base)) return true;
      await this.saveNow();
      if (this.state === "dirty") return false;
    }
    return sameDocument(this.getDocument(), this.base);
  }

  /**
   * Ends a conflict by adopting the server's document as the new base (at the
   * server's version). The caller then puts either the merged document ("re-apply
   * mine") or the server's own ("discard mine") into the editor and calls
   * notifyChange, which saves the former and finds nothing to save for the latter.
   */
  resolveWith(serverVersion, serverDocument) {
    this.conflict = null;
    this.version = serverVersion;
    this.base = serverDocument;
    this.error = null;
    this.firstUnsavedAt = null;
    this.setState("dirty");
  }

  /** Enters the conflict state for a document edited against an older version (drafts). */
  startConflict(serverVersion, serverDocument, staleBase) {
    this.base = staleBase;
    this.conflict = { version: serverVersion, document: serverDocument };
    this.setState(
      "conflict",
      "Unsaved changes from an earlier visit were made on an older version.",
    );
  }

  /**
   * Last resort when the page goes away with unsaved work: a keepalive request that
   * outlives the page. Its answer cannot be handled, so the local draft stays too.
   */
  sendBeacon(url, csrfToken) {
    if (this.conflict || sameDocument(this.getDocument(), this.base)) return;
    fetch(url, {
      method: "PUT",
      keepalive: true,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken || "" },
      body: JSON.stringify({ base_version: this.version, annotation: this.getDocument() }),
    }).catch(() => {});
  }

  /**
   * Runs another request that moves the item's version on (a status change) while
   * saves are held back, then adopts the version it answers with, so our next save
   * is not a conflict with ourselves. If the version jumped further, someone else
   * saved in between: the version is not adopted and the next save meets the normal
   * conflict handling instead of overwriting their work.
   */
  async exclusive(request) {
    if (this.inFlight) await this.inFlight.catch(() => {});
    this.held = true;
    try {
      const answer = await request();
      if (answer && Number.isInteger(answer.version) && answer.version <= this.version + 1) {
        this.version = Math.max(this.version, answer.version);
      }
      return answer;
    } finally {
      this.held = false;
      this.onStateChange(this);
      this.notifyChange();
    }
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
