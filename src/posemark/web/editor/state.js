// @ts-check
/**
 * Undo/redo history of editor snapshots.
 *
 * A snapshot is `{doc, selection, label}`: the whole (small) annotation document plus
 * which instance/keypoint the user was working on. Keeping whole snapshots instead of
 * inverse operations means every edit, present and future, is undoable by
 * construction, and undo can never drift out of step with what was drawn. Documents
 * are immutable (see document.js), so snapshots share nothing mutable.
 */

export class History {
  /** @param {number} limit oldest snapshots are dropped beyond this many */
  constructor(limit = 500) {
    this.limit = limit;
    this.entries = [];
    this.index = -1;
  }

  /** Starts a new history whose only entry is `snapshot` (a freshly loaded item). */
  reset(snapshot) {
    this.entries = [snapshot];
    this.index = 0;
  }

  get current() {
    return this.entries[this.index];
  }

  /** Records an edit; anything that was undone before it can no longer be redone. */
  push(snapshot) {
    this.entries.splice(this.index + 1);
    this.entries.push(snapshot);
    if (this.entries.length > this.limit) this.entries.shift();
    this.index = this.entries.length - 1;
  }

  get canUndo() {
    return this.index > 0;
  }

  get canRedo() {
    return this.index < this.entries.length - 1;
  }

  /** Steps back; returns the snapshot to show and the label of the edit undone, or null. */
  undo() {
    if (!this.canUndo) return null;
    const undone = this.entries[this.index];
    this.index--;
    return { snapshot: this.current, label: undone.label };
  }

  /** Steps forward again; returns the snapshot to show and the edit redone, or null. */
  redo() {
    if (!this.canRedo) return null;
    this.index++;
    return { snapshot: this.current, label: this.current.label };
  }
}
