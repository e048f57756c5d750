// @ts-check
/**
 * The login page (#/login?next=...): username and password, then back to where
 * the user was going.
 */

import { api } from "../api.js";
import { h } from "../dom.js";

export async function loginPage(root, _params, app) {
  const next = new URLSearchParams(location.hash.split("?")[1] || "").get("next");
  const error = h("div", { class: "alert error", role: "alert", hidden: true });
  const username = h("input", {
    id: "login-username",
    name: "username",
    autocomplete: "username",
    required: true,
  });
  const password = h("input", {
    id: "login-password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const submit = h("button", { type: "submit", class: "tool primary wide" }, "Log in");
  const form = h(
    "form",
    { class: "card login-card", "aria-labelledby": "login-title" },
    h(
      "div",
      { class: "login-brand" },
      h("span", { class: "logo", "aria-hidden": "true" }),
      "posemark",
    ),
    h("h1", { id: "login-title" }, "Log in"),
    error,
    h("label", { for: "login-username" }, "Username"),
    username,
    h("label", { for: "login-password" }, "Password"),
    password,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    try {
      const user = await api.login(username.value.trim(), password.value);
      app.loggedIn(user, next);
    } catch (err) {
      error.textContent = err.status === 401 ? "Wrong username or password." : err.message;
      error.hidden = false;
      password.select();
    } finally {
      submit.disabled = false;
    }
  });
  root.append(h("div", { class: "login-page" }, form));
  username.focus();
  return null;
}
