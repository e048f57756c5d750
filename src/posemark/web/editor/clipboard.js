// @ts-check
/**
 * The copied person: kept in localStorage so a copy travels to another item (and another
 * tab) of a project with the same skeleton. Only the geometry is copied (keypoints with
 * their visibility, a drawn box); the paste is a new person's own work.
 */

const KEY = "posemark.clipboard.person";

/** Remembers `inst`, with the skeleton's keypoint names to check a paste against. */
export function copyPerson(keypointNames, inst) {
  const person = { id: inst.id, keypoints: inst.keypoints, bbox: inst.bbox, bbox_mode: inst.bbox_mode };
  localStorage.setItem(KEY, JSON.stringify({ keypointNames, person }));
}

/** The copied person, or `{error}` when there is none or its skeleton is another one. */
export function pastedPerson(keypointNames) {
  let copied = null;
  try {
    copied = JSON.parse(localStorage.getItem(KEY) || "null");
  } catch {
    copied = null;
  }
  if (!copied || !copied.person) return { error: "Nothing copied yet: select a person, Ctrl+C." };
  if (JSON.stringify(copied.keypointNames) !== JSON.stringify(keypointNames))
    return { error: "The copied person has another skeleton's keypoints; it cannot go here." };
  return { person: copied.person };
}
