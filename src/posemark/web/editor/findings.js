// @ts-check
/**
 * Automated QA findings in the editor: a marker on the keypoint each finding concerns.
 *
 * Findings come from GET /api/items/{iid}/qa (the checks run against the whole
 * project, so the body prior and the video neighbours are the project's) and are
 * fetched again after every successful save, so fixing a keypoint clears its marker.
 * Markers follow the keypoint as it is dragged because they are drawn from the current
 * document each render. Contract for browser tests: one `<g class="finding">` per
 * finding, with data-check, data-severity, data-keypoint ("" for a whole instance) and
 * data-instance-id.
 */

import { request } from "../api.js";
import { s } from "../dom.js";
import { NOT_LABELED } from "./document.js";

const RING_RADIUS = 11;

export class ItemFindings {
  /**
   * @param {number} itemId
   * @param {(findings: object[]) => void} onChange called with the new list
   */
  constructor(itemId, onChange) {
    this.itemId = itemId;
    this.onChange = onChange;
    this.findings = [];
    this.sequence = 0;
  }

  /** Fetches the findings; an older answer arriving late never overwrites a newer one. */
  async refresh() {
    const sequence = ++this.sequence;
    try {
      const answer = await request("GET", `/api/items/${this.itemId}/qa`);
      if (sequence !== this.sequence) return;
      this.findings = answer.findings || [];
      this.onChange(this.findings);
    } catch {
      // QA is advisory: a failed fetch leaves the editor fully usable, markers unchanged
    }
  }
}

/** Where a finding points: its keypoint, else the instance's first labeled keypoint
 * (the head in most skeletons), else its box corner. */
function anchor(inst, names, finding) {
  if (finding.keypoint) {
    const kp = inst.keypoints[names.indexOf(finding.keypoint)];
    if (kp && kp[2] !== NOT_LABELED) return [kp[0], kp[1]];
  }
  const first = inst.keypoints.find((kp) => kp[2] !== NOT_LABELED);
  if (first) return [first[0], first[1]];
  return inst.bbox ? [inst.bbox[0], inst.bbox[1]] : null;
}

/** An SVG group with one marker per finding whose instance is in the document. */
export function findingMarkers(doc, names, findings, scale) {
  const byId = new Map(doc.instances.map((inst) => [inst.id, inst]));
  const group = s("g", { class: "findings" });
  for (const f of findings) {
    const inst = byId.get(f.instance_id);
    if (!inst) continue;
    const at = anchor(inst, names, f);
    if (!at) continue;
    const label = f.keypoint ? f.keypoint.replaceAll("_", " ") : "instance";
    group.append(
      s(
        "g",
        {
          class: `finding ${f.severity}`,
          "data-check": f.check,
          "data-severity": f.severity,
          "data-keypoint": f.keypoint || "",
          "data-instance-id": f.instance_id,
          transform: `translate(${at[0]} ${at[1]})`,
        },
        s("title", { text: `QA ${f.check} (${f.severity}) at ${label}: ${f.message}` }),
        s("circle", { class: "finding-ring", r: RING_RADIUS / scale }),
      ),
    );
  }
  return group;
}
