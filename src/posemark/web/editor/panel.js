// @ts-check
/**
 * The side panel: the item's instances and the selected instance's keypoints.
 *
 * The keypoint list doubles as the progress view of the "place in schema order"
 * workflow: the next keypoint is highlighted, skipped/cleared ones read "not
 * labeled", and clicking a row makes that keypoint the next one to place.
 */

import { h, mount, toolButton } from "../dom.js";
import { instanceColor, sideColor } from "./colors.js";
import { NOT_LABELED, OCCLUDED, labeledCount } from "./document.js";

const VISIBILITY_LABEL = { 0: "—", 1: "occluded", 2: "visible" };

/**
 * Where a person came from, and whether anyone checked it: an unconfirmed suggestion
 * must not look like one a person already confirmed.
 */
function sourceBadge(inst) {
  if (inst.source === "human") return null;
  if (!inst.confirmed)
    return h(
      "span",
      {
        class: "chip source unconfirmed",
        "data-confirmed": "false",
        title: `Unconfirmed ${inst.source} suggestion: C confirms it`,
      },
      `${inst.source} ?`,
    );
  return h(
    "span",
    {
      class: "chip source confirmed",
      "data-confirmed": "true",
      title: `${inst.source} suggestion, confirmed by a person`,
    },
    `${inst.source} ✓`,
  );
}

export class SidePanel {
  /**
   * @param {HTMLElement} root where the panel sections go
   * @param {import("./controller.js").AnnotationEditor} editor
   * @param {string[]} sides body side per keypoint
   */
  constructor(root, editor, sides) {
    this.editor = editor;
    this.sides = sides;
    this.instanceList = h("ul", { class: "instance-list", "aria-label": "Instances" });
    this.keypointHeading = h("h2", {}, "Keypoints");
    this.boxLine = h("div", { class: "box-line" });
    this.keypointList = h("ol", {
      class: "keypoint-list",
      "aria-label": "Keypoints of the selected instance",
    });
    const addButton = toolButton("+ New", "New instance (N)", () => editor.addInstance(), {
      class: "small",
    });
    root.append(
      h(
        "section",
        { class: "panel-section" },
        h("div", { class: "section-head" }, h("h2", {}, "Instances"), addButton),
        this.instanceList,
      ),
      (this.keypointSection = h(
        "section",
        { class: "panel-section grow keypoints-section" },
        h("div", { class: "section-head" }, this.keypointHeading, this.boxLine),
        this.keypointList,
      )),
    );
  }

  render() {
    const { doc, selection } = this.editor;
    const k = this.editor.keypointNames.length;
    mount(
      this.instanceList,
      doc.instances.length
        ? doc.instances.map((inst) => this.instanceRow(inst, inst.id === selection.instanceId, k))
        : h("li", { class: "empty" }, "No instances yet. Press N to add one."),
    );
    const inst = this.editor.selectedInstance;
    this.keypointHeading.textContent = inst ? `Keypoints of ${inst.id}` : "Keypoints";
    mount(this.boxLine, inst ? this.boxControls(inst) : null);
    mount(
      this.keypointList,
      inst
        ? inst.keypoints.map((kp, index) => this.keypointRow(kp, index, selection))
        : h("li", { class: "empty" }, "Select an instance to see its keypoints."),
    );
    for (const current of [
      this.instanceList.querySelector(".selected"),
      this.keypointList.querySelector(".next, .active"),
    ]) {
      if (current) current.scrollIntoView({ block: "nearest" });
    }
  }

  instanceRow(inst, selected, k) {
    const count = labeledCount(inst);
    return h(
      "li",
      {
        class: `instance-row${selected ? " selected" : ""}`,
        "data-instance-id": inst.id,
        "aria-selected": selected ? "true" : "false",
      },
      h(
        "button",
        {
          type: "button",
          class: "instance-select",
          onMousedown: (e) => e.preventDefault(),
          onClick: () => this.editor.selectInstance(inst.id),
          "aria-label": `Select instance ${inst.id}, ${count} of ${k} keypoints labeled`,
        },
        h("span", { class: "swatch", style: `background: ${instanceColor(inst.id)}` }),
        h("span", { class: "instance-name" }, inst.id),
        sourceBadge(inst),
        inst.bbox_mode === "drawn"
          ? h("span", { class: "chip", title: "Bounding box drawn by hand" }, "box")
          : null,
        h("span", { class: `count${count === k ? " complete" : ""}` }, `${count}/${k}`),
      ),
      toolButton("✕", `Delete instance ${inst.id}`, () => this.editor.deleteInstance(inst.id), {
        class: "small ghost danger",
      }),
    );
  }

  /** How the selected instance's box is made, and the way back to a derived box. */
  boxControls(inst) {
    if (inst.bbox_mode !== "drawn") {
      return h(
        "span",
        { class: "muted", title: "The box follows the keypoints. B then drag draws one." },
        "box from keypoints",
      );
    }
    return toolButton(
      "box drawn · derive",
      "Derive the box from the keypoints again",
      () => this.editor.deriveBbox(inst.id),
      {
        class: "small",
      },
    );
  }

  keypointRow([, , v], index, selection) {
    const name = this.editor.keypointNames[index];
    const isNext = selection.placeIndex === index;
    const isActive = selection.keypointIndex === index;
    const classes = ["keypoint-row", `v${v}`, isNext ? "next" : "", isActive ? "active" : ""];
    const marker = h("span", {
      class: `side-dot${v === OCCLUDED ? " hollow" : ""}${v === NOT_LABELED ? " empty" : ""}`,
      style: `--side-color: ${sideColor(this.sides[index])}`,
    });
    return h(
      "li",
      { class: classes.join(" ").trim(), "data-keypoint": name },
      h(
        "button",
        {
          type: "button",
          onMousedown: (e) => e.preventDefault(),
          onClick: () => this.editor.choosePlaceTarget(index),
          "aria-label":
            `${name}: ${VISIBILITY_LABEL[v]}${isNext ? ", next to place" : ""}. ` +
            "Click to place it next.",
        },
        h("span", { class: "index" }, String(index + 1)),
        marker,
        h("span", { class: "kp-name" }, name.replaceAll("_", " ")),
        h("span", { class: "kp-state" }, isNext ? "next" : VISIBILITY_LABEL[v]),
      ),
    );
  }
}
