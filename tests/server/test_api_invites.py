"""Invite links, on SQLite and PostgreSQL: an admin makes a one-time, expiring link
(only its hash is stored); the invitee sets a password with it, once; a revoked,
replaced, used or expired link answers 410; only admins make and revoke links."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from serverkit import Server
from sqlalchemy import select, update

from posemark.store.invite_models import Invite
from posemark.store.models import utcnow


def new_account(admin: TestClient, name: str = "newbie") -> int:
    r = admin.post("/api/users", json={"username": name, "password": "handed-over-pw"})
    assert r.status_code == 201, r.text
    return int(r.json()["user"]["id"])


def accept(server: Server, token: str, password: str) -> Any:
    return server.anonymous().post(
        "/api/invites/accept", json={"token": token, "password": password}
    )


def test_an_invite_link_sets_the_password_once(server: Server, admin: TestClient) -> None:
    uid = new_account(admin)
    r = admin.post(f"/api/users/{uid}/invite")
    assert r.status_code == 200, r.text
    answer = r.json()
    token = answer["token"]
    assert answer["path"] == f"/#/invite/{token}"
    assert answer["user"]["invite"]["expires_at"] == answer["expires_at"]
    with server.session() as session:
        hashes = list(session.scalars(select(Invite.token_hash)))
    assert len(hashes) == 1 and token not in hashes[0] and len(hashes[0]) == 64

    anonymous = server.anonymous()
    assert anonymous.get(f"/api/invites/{token}").json()["username"] == "newbie"
    r = accept(server, token, "short")
    assert r.status_code == 400 and "at least 8" in r.json()["detail"]
    assert accept(server, token, "my-own-password").status_code == 204
    assert server.login("newbie", "my-own-password").get("/api/auth/me").status_code == 200
    r = accept(server, token, "another-password")
    assert r.status_code == 410 and "already used" in r.json()["detail"]
    assert anonymous.get(f"/api/invites/{token}").status_code == 410
    listed = {u["username"]: u for u in admin.get("/api/users").json()["users"]}
    assert listed["newbie"]["invite"] is None
    actions = [e["action"] for e in admin.get("/api/audit").json()["entries"]]
    assert actions[:2] == ["accept_invite", "invite"]


def test_revoked_replaced_and_expired_links_stop_working(server: Server, admin: TestClient) -> None:
    uid = new_account(admin)
    first = admin.post(f"/api/users/{uid}/invite").json()["token"]
    second = admin.post(f"/api/users/{uid}/invite").json()["token"]
    r = accept(server, first, "my-own-password")
    assert r.status_code == 410 and "revoked" in r.json()["detail"]
    listed = {u["username"]: u for u in admin.get("/api/users").json()["users"]}
    assert listed["newbie"]["invite"] is not None
    r = admin.delete(f"/api/users/{uid}/invite")
    assert r.status_code == 200 and r.json()["revoked"] == 1
    assert r.json()["user"]["invite"] is None
    assert accept(server, second, "my-own-password").status_code == 410

    third = admin.post(f"/api/users/{uid}/invite").json()["token"]
    with server.session() as session:
        session.execute(update(Invite).values(expires_at=utcnow() - timedelta(minutes=1)))
        session.commit()
    r = accept(server, third, "my-own-password")
    assert r.status_code == 410 and "expired" in r.json()["detail"]
    r = server.anonymous().get("/api/invites/not-a-token")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    # the handed-over password still works: nothing was changed by the dead links
    assert server.login("newbie", "handed-over-pw").get("/api/auth/me").status_code == 200


def test_only_admins_make_and_revoke_links(server: Server, admin: TestClient) -> None:
    uid = new_account(admin)
    new_account(admin, "plain")
    plain = server.login("plain", "handed-over-pw")
    assert plain.post(f"/api/users/{uid}/invite").status_code == 403
    assert plain.delete(f"/api/users/{uid}/invite").status_code == 403
    r = admin.post(f"/api/users/{uid}/invite", json={"days": 0})
    assert r.status_code == 400 and "days" in r.json()["detail"]
