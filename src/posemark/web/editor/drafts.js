// @ts-check
/**
 * A local copy of unsaved work, kept in localStorage until the server has it.
 *
 * Why: autosave covers the normal case, but a crash, a closed laptop or a lost
 * connection must not cost an annotator their last edits. The draft records the
 * document and the base it was edited from, so on the next visit the editor can
 * either save it (server unchanged) or offer it as a conflict (server moved on).
 */

const PREFIX = "posemark.draft.";

/** Stores `{baseVersion, base, document}` for an item; quota errors are ignored (best effort). */
export function saveDraft(itemId, draft) {
  try {
    localStorage.setItem(PREFIX + itemId, JSON.stringify({ ...draft, savedAt: Date.now() }));
  } catch {
    // Storage full or disabled: autosave still works; the draft is only a safety net.
  }
}

export function loadDraft(itemId) {
  try {
    const text = localStorage.getItem(PREFIX + itemId);
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

export function clearDraft(itemId) {
  try {
    localStorage.removeItem(PREFIX + itemId);
  } catch {
    // Nothing to clear when storage is unavailable.
  }
}
