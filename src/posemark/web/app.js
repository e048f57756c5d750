// @ts-check
/**
 * The application shell and hash router.
 *
 * Routes: #/login, #/projects, #/projects/{pid}, #/items/{iid}. A page is an async
 * function `(root, params, app) -> page` where `page` may have `destroy()` and
 * `beforeLeave() -> Promise<boolean>` (the editor uses it to finish saving before
 * the next page loads). Hash routing keeps the server side trivial: one static
 * index.html serves every page.
 */

import { api, setUnauthorizedHandler } from "./api.js";
import { h, mount } from "./dom.js";
import { dashboardPage } from "./pages/dashboard.js";
import { editorPage } from "./pages/editor.js";
import { galleryPage } from "./pages/gallery.js";
import { guidelinesPage } from "./pages/guidelines.js";
import { reviewInstancesPage } from "./pages/review_instances.js";
import { jobsPage } from "./pages/jobs.js";
import { loginPage } from "./pages/login.js";
import { projectPage } from "./pages/project.js";
import { projectsPage } from "./pages/projects.js";
import { qaPage } from "./pages/qa.js";
import { usersPage } from "./pages/users.js";
import { invitePage } from "./pages/invite.js";

const ROUTES = [
  { pattern: /^#\/login(?:\?.*)?$/, page: loginPage, public: true, name: "login" },
  {
    pattern: /^#\/invite\/([A-Za-z0-9_-]+)$/,
    page: invitePage,
    public: true,
    name: "invite",
    params: (m) => ({ token: m[1] }),
  },
  { pattern: /^#\/projects\/?$/, page: projectsPage, name: "projects" },
  { pattern: /^#\/users\/?$/, page: usersPage, name: "users" },
  {
    pattern: /^#\/projects\/([^/?]+)(?:\?job=(\d+))?$/,
    page: projectPage,
    name: "project",
    params: (m) => ({ pid: m[1], job: m[2] }),
  },
  {
    pattern: /^#\/projects\/([^/?]+)\/guidelines(?:\?version=(\d+))?$/,
    page: guidelinesPage,
    name: "guidelines",
    params: (m) => ({ pid: m[1], version: m[2] }),
  },
  {
    pattern: /^#\/projects\/([^/?]+)\/gallery(?:\?keypoint=([^&]+))?$/,
    page: galleryPage,
    name: "gallery",
    params: (m) => ({ pid: m[1], keypoint: m[2] && decodeURIComponent(m[2]) }),
  },
  {
    pattern: /^#\/projects\/([^/?]+)\/review$/,
    page: reviewInstancesPage,
    name: "review-instances",
    params: (m) => ({ pid: m[1] }),
  },
  {
    pattern: /^#\/projects\/([^/?]+)\/jobs$/,
    page: jobsPage,
    name: "jobs",
    params: (m) => ({ pid: m[1] }),
  },
  {
    pattern: /^#\/projects\/([^/?]+)\/qa$/,
    page: qaPage,
    name: "qa",
    params: (m) => ({ pid: m[1] }),
  },
  {
    pattern: /^#\/projects\/([^/?]+)\/dashboard$/,
    page: dashboardPage,
    name: "dashboard",
    params: (m) => ({ pid: m[1] }),
  },
  {
    pattern: /^#\/items\/([^/?]+)$/,
    page: editorPage,
    name: "editor",
    params: (m) => ({ iid: m[1] }),
  },
];

class App {
  constructor() {
    this.main = document.getElementById("page");
    this.crumbs = document.getElementById("crumbs");
    this.userBox = document.getElementById("user-box");
    this.current = null;
    this.currentHash = null;
    this.restoringHash = false;
    this.routing = Promise.resolve();
    setUnauthorizedHandler(() => this.toLogin());
    window.addEventListener("hashchange", () => this.route());
  }

  async start() {
    const user = await api.me().catch(() => null);
    this.showUser(user);
    if (!location.hash || location.hash === "#" || location.hash === "#/") {
      location.replace(user ? "#/projects" : "#/login");
    }
    await this.route();
  }

  navigate(hash) {
    if (location.hash === hash) this.route();
    else location.hash = hash;
  }

  toLogin() {
    const here = location.hash;
    // pages that need no account (login, an invite link) stay where they are
    if (ROUTES.some((r) => r.public && r.pattern.test(here))) return;
    this.showUser(null);
    location.hash = `#/login?next=${encodeURIComponent(here || "#/projects")}`;
  }

  showUser(user) {
    if (!user) {
      this.userBox.replaceChildren();
      return;
    }
    mount(
      this.userBox,
      h("span", { class: "user-name", title: user.is_admin ? "administrator" : "" }, user.username),
      user.is_admin
        ? h("a", { class: "tool ghost small", href: "#/users", id: "open-users" }, "Users")
        : null,
      h(
        "button",
        {
          type: "button",
          class: "tool ghost small",
          onClick: async () => {
            if (this.current?.beforeLeave && !(await this.current.beforeLeave())) return;
            await api.logout().catch(() => {});
            this.showUser(null);
            this.leaveCurrent();
            location.hash = "#/login";
          },
        },
        "Log out",
      ),
    );
  }

  /** Breadcrumbs in the app bar: [{label, href?}]. */
  setCrumbs(items) {
    mount(
      this.crumbs,
      items.map((item, i) => [
        i > 0 ? h("span", { class: "crumb-sep", "aria-hidden": "true" }, "/") : null,
        item.href
          ? h("a", { href: item.href }, item.label)
          : h("span", { class: "crumb-current", "aria-current": "page" }, item.label),
      ]),
    );
  }

  leaveCurrent() {
    if (this.current?.destroy) this.current.destroy();
    this.current = null;
  }

  /**
   * Navigations run one after another: the editor's beforeLeave (a final save) and
   * the next page's loading never overlap with another navigation's.
   */
  route() {
    this.routing = this.routing
      .then(() => this.routeNow())
      .catch((err) => this.showError(err.message));
    return this.routing;
  }

  async routeNow() {
    if (this.restoringHash) {
      this.restoringHash = false;
      return;
    }
    const hash = location.hash || "#/projects";
    if (hash === this.currentHash && this.current) return;
    if (this.current?.beforeLeave && !(await this.current.beforeLeave())) {
      this.restoringHash = true;
      location.hash = this.currentHash;
      return;
    }
    this.leaveCurrent();
    this.currentHash = hash;
    const route = ROUTES.find((r) => r.pattern.test(hash));
    document.body.dataset.page = route ? route.name : "missing";
    // Each page gets its own container, so nothing a page does can touch the next one's.
    const container = h("div", { class: "page-root" });
    this.main.replaceChildren(container);
    this.setCrumbs([]);
    if (!route) {
      this.showError("This page does not exist.", "#/projects");
      return;
    }
    const params = route.params ? route.params(route.pattern.exec(hash)) : {};
    try {
      this.current = (await route.page(container, params, this)) || {};
    } catch (err) {
      if (err.status === 401) return;
      this.showError(
        err.status === 404 ? "Not found, or you are not a member of its project." : err.message,
      );
    }
  }

  showError(text, back = "#/projects") {
    mount(
      this.main,
      h(
        "div",
        { class: "page narrow" },
        h("div", { class: "alert error", role: "alert" }, text),
        h("a", { href: back }, "Back to projects"),
      ),
    );
  }

  /** Called by the login page. */
  loggedIn(user, next) {
    this.showUser(user);
    this.navigate(
      next && next.startsWith("#/") && !next.startsWith("#/login") ? next : "#/projects",
    );
  }
}

const app = new App();
window.posemarkApp = app;
app.start();
