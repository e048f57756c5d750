// @ts-check
/**
 * The videos of a project on its page: one entry per video, opening its first frame in
 * the editor (every frame is an item; the timeline there moves between them). Managers
 * delete a video (`button.video-delete`) after a confirmation naming its frames.
 */

import { request } from "../api.js";
import { h, mount, plural } from "../dom.js";

export function videosPanel(pid, manages = false, onDeleted = () => {}) {
  const list = h("ul", { class: "video-list", "aria-label": "Videos" });
  const element = h(
    "section",
    { class: "card videos-panel", hidden: true },
    h("h2", {}, "Videos"),
    list,
  );

  async function load() {
    const videos = await request("GET", `/api/projects/${pid}/videos`);
    element.hidden = videos.length === 0;
    mount(
      list,
      videos.map((v) =>
        h(
          "li",
          { class: "video-entry", "data-video-id": String(v.id) },
          h(
            "a",
            { href: `#/items/${v.first_item_id}`, class: "video-link" },
            h("img", {
              src: `/api/items/${v.first_item_id}/thumbnail?size=160`,
              alt: "",
              loading: "lazy",
            }),
            h("span", { class: "video-name" }, v.file_name),
          ),
          h(
            "span",
            { class: "muted" },
            `${plural(v.frame_count, "frame")} · ${v.fps} fps · ${v.width} × ${v.height}`,
          ),
          manages
            ? h(
                "button",
                {
                  type: "button",
                  class: "tool danger video-delete",
                  "aria-label": `Delete ${v.file_name}`,
                  onClick: () => remove(v),
                },
                "Delete",
              )
            : null,
        ),
      ),
    );
  }

  async function remove(v) {
    const ok = window.confirm(
      `Delete ${v.file_name}? Its ${plural(v.frame_count, "frame")} go with their annotations, ` +
        "history and comments, and the video file is removed from the project.",
    );
    if (!ok) return;
    try {
      await request("DELETE", `/api/videos/${v.id}`);
      await load();
      onDeleted();
    } catch (err) {
      mount(list, h("li", { class: "alert error" }, `Not deleted: ${err.message}`));
    }
  }

  load().catch((err) => {
    element.hidden = false;
    mount(list, h("li", { class: "alert error" }, `Videos not loaded: ${err.message}`));
  });
  return { element, load };
}
