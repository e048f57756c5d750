// @ts-check
/**
 * The users page (#/users), for admins: every account with its state, a form to create
 * one (a one-time password is generated unless one is typed), and per account
 * deactivate / reactivate and "reset password", whose one-time password is shown once
 * to hand over, or "invite link": a one-time link that expires, with which the invitee
 * sets their own password (`#invite-link` shows it once; "revoke link" ends it). Nobody
 * signs up alone; this page and `posemark user` are the doors.
 */

import { api } from "../api.js";
import { h, mount } from "../dom.js";

/** A random one-time password (the server stores only its hash). */
function oneTimePassword() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return btoa(String.fromCharCode(...bytes)).replace(/[+/=]/g, "").slice(0, 16);
}

export async function usersPage(root, _params, app) {
  app.setCrumbs([{ label: "Projects", href: "#/projects" }, { label: "Users" }]);
  const table = h("tbody", {});
  const error = h("div", { class: "alert error", role: "alert", hidden: true });
  const notice = h("div", { class: "alert notice", role: "status", hidden: true, id: "users-notice" });

  const fail = (err) => {
    error.textContent = err.message;
    error.hidden = false;
  };
  const tell = (text) => {
    notice.textContent = text;
    notice.hidden = false;
  };

  async function load() {
    const { users } = await api.users();
    mount(
      table,
      users.map((u) => {
        const toggle = h(
          "button",
          {
            type: "button",
            class: "tool small",
            "data-action": u.is_active ? "deactivate" : "activate",
            onClick: async () => {
              error.hidden = true;
              try {
                if (u.is_active) await api.deactivateUser(u.id);
                else await api.activateUser(u.id);
                tell(`${u.username} ${u.is_active ? "deactivated" : "reactivated"}.`);
                await load();
              } catch (err) {
                fail(err);
              }
            },
          },
          u.is_active ? "Deactivate" : "Reactivate",
        );
        const reset = h(
          "button",
          {
            type: "button",
            class: "tool small",
            "data-action": "reset",
            onClick: async () => {
              error.hidden = true;
              try {
                const answer = await api.resetPassword(u.id);
                tell(`One-time password for ${u.username}: ${answer.password} (shown only now).`);
              } catch (err) {
                fail(err);
              }
            },
          },
          "Reset password",
        );
        const invite = h(
          "button",
          {
            type: "button",
            class: "tool small",
            "data-action": "invite",
            disabled: !u.is_active,
            onClick: async () => {
              error.hidden = true;
              try {
                const answer = await api.createInvite(u.id);
                const url = `${location.origin}${answer.path}`;
                mount(
                  notice,
                  `Invite link for ${u.username} (works once, until ${new Date(answer.expires_at).toLocaleString()}; shown only now): `,
                  h("input", { id: "invite-link", readonly: true, value: url, "aria-label": "Invite link", size: 60 }),
                );
                notice.hidden = false;
                await load();
              } catch (err) {
                fail(err);
              }
            },
          },
          u.invite ? "New invite link" : "Invite link",
        );
        const revoke = u.invite
          ? h(
              "button",
              {
                type: "button",
                class: "tool small danger",
                "data-action": "revoke-invite",
                title: `Open invite link, until ${new Date(u.invite.expires_at).toLocaleString()}`,
                onClick: async () => {
                  error.hidden = true;
                  try {
                    await api.revokeInvite(u.id);
                    tell(`${u.username}'s invite link revoked.`);
                    await load();
                  } catch (err) {
                    fail(err);
                  }
                },
              },
              "Revoke link",
            )
          : null;
        return h(
          "tr",
          {
            "data-username": u.username,
            "data-active": String(u.is_active),
            "data-invite": String(Boolean(u.invite)),
          },
          h("td", {}, u.username),
          h("td", {}, u.is_admin ? "admin" : ""),
          h("td", {}, u.is_active ? "active" : "deactivated"),
          h("td", { class: "num" }, String(u.projects)),
          h("td", { class: "actions" }, toggle, reset, invite, revoke),
        );
      }),
    );
  }

  const username = h("input", {
    id: "new-username",
    required: true,
    placeholder: "user name",
    "aria-label": "New user name",
  });
  const password = h("input", {
    id: "new-password",
    type: "text",
    placeholder: "password (empty: generate one)",
    "aria-label": "Password (empty: generate a one-time password)",
    autocomplete: "off",
  });
  const isAdmin = h("input", { id: "new-admin", type: "checkbox" });
  const form = h(
    "form",
    { class: "form-row user-form", "aria-label": "New account" },
    username,
    password,
    h("label", { class: "check" }, isAdmin, " admin"),
    h("button", { type: "submit", class: "tool primary" }, "Create account"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const secret = password.value || oneTimePassword();
    try {
      await api.createUser(username.value.trim(), secret, isAdmin.checked);
      tell(
        password.value
          ? `Account ${username.value.trim()} created.`
          : `Account ${username.value.trim()} created; one-time password: ${secret} (shown only now).`,
      );
      username.value = "";
      password.value = "";
      isAdmin.checked = false;
      await load();
    } catch (err) {
      fail(err);
    }
  });

  root.append(
    h(
      "div",
      { class: "page" },
      h("div", { class: "page-head" }, h("h1", {}, "Users")),
      h("section", { class: "card" }, h("h2", {}, "New account"), form),
      notice,
      error,
      h(
        "table",
        { class: "users-table", "aria-label": "Accounts" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["User", "Role", "State", "Projects", ""].map((t) => h("th", { scope: "col" }, t)),
          ),
        ),
        table,
      ),
    ),
  );
  await load();
  return null;
}
