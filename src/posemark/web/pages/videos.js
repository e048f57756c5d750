// @ts-check
/**
 * The videos of a project on its page: one entry per video, opening its first frame in
 * the editor (every frame is an item; the timeline there moves between them).
 */

import { request } from "../api.js";
import { h, mount, plural } from "../dom.js";

export function videosPanel(pid) {
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
        ),
      ),
    );
  }

  load().catch((err) => {
    element.hidden = false;
    mount(list, h("li", { class: "alert error" }, `Videos not loaded: ${err.message}`));
  });
  return { element, load };
}
