/**
 * The invite page (#/invite/{token}): the one page besides login that needs no account.
 * The invitee sees whom the link is for, sets a password (typed twice) and goes on to
 * log in; a used, revoked or expired link says so (410; an unknown one 404).
 */

import { request } from "../api.js";
import { h, mount } from "../dom.js";

export async function invitePage(root, { token }) {
  const box = h("div", { class: "card login-card", id: "invite-card" });
  root.append(h("div", { class: "login-page" }, box));
  const gone = (message) =>
    mount(
      box,
      h("h1", {}, "Invite link"),
      h("div", { class: "alert error", role: "alert", id: "invite-error" }, message),
      h("a", { class: "tool", href: "#/login" }, "Go to log in"),
    );
  let invite;
  try {
    invite = await request("GET", `/api/invites/${encodeURIComponent(token)}`);
  } catch (err) {
    gone(err.message);
    return null;
  }
  const error = h("div", { class: "alert error", role: "alert", hidden: true });
  const first = h("input", {
    id: "invite-password",
    type: "password",
    autocomplete: "new-password",
    required: true,
    minlength: 8,
  });
  const again = h("input", {
    id: "invite-password-again",
    type: "password",
    autocomplete: "new-password",
    required: true,
  });
  const submit = h("button", { type: "submit", class: "tool primary wide", id: "invite-submit" }, "Set password");
  const form = h(
    "form",
    { "aria-labelledby": "invite-title" },
    h("h1", { id: "invite-title" }, `Welcome, ${invite.username}`),
    h("p", { class: "muted" }, "Choose your password (at least 8 characters). This link works once."),
    error,
    h("label", { for: "invite-password" }, "Password"),
    first,
    h("label", { for: "invite-password-again" }, "Password again"),
    again,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    if (first.value !== again.value) {
      error.textContent = "The two passwords differ.";
      error.hidden = false;
      return;
    }
    submit.disabled = true;
    try {
      await request("POST", "/api/invites/accept", { body: { token, password: first.value } });
      mount(
        box,
        h("h1", {}, "Password set"),
        h("p", { id: "invite-done" }, `You can now log in as ${invite.username}.`),
        h("a", { class: "tool primary", href: "#/login", id: "invite-login" }, "Log in"),
      );
    } catch (err) {
      if (err.status === 410 || err.status === 404) gone(err.message);
      else {
        error.textContent = err.message;
        error.hidden = false;
      }
    } finally {
      submit.disabled = false;
    }
  });
  mount(box, form);
  first.focus();
  return null;
}
