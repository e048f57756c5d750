"""Login, logout, "me", the session cookie and CSRF protection."""

from __future__ import annotations

from fastapi.testclient import TestClient
from serverkit import ADMIN_PASSWORD, PASSWORD, Server


def test_health_needs_no_login(app_client: TestClient) -> None:
    r = app_client.get("/api/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_openapi_is_published(app_client: TestClient) -> None:
    r = app_client.get("/openapi.json")
    assert r.status_code == 200
    assert "/api/items/{iid}/annotation" in r.json()["paths"]


def test_login_sets_an_http_only_cookie_and_returns_the_csrf_token(app_client: TestClient) -> None:
    r = app_client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["user"] == {
        "id": 1,
        "username": "admin",
        "is_admin": True,
        "can_create_projects": True,
    }
    assert len(body["csrf_token"]) > 20
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("posemark_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    me = app_client.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json() == body


def test_wrong_password_and_unknown_user_get_the_same_401(app_client: TestClient) -> None:
    for username, password in (("admin", "nope-nope-nope"), ("nobody", ADMIN_PASSWORD)):
        r = app_client.post("/api/auth/login", json={"username": username, "password": password})
        assert r.status_code == 401
        assert r.json() == {"detail": "wrong username or password", "code": "unauthorized"}
    assert app_client.get("/api/auth/me").status_code == 401


def test_logout_ends_the_session(server: Server) -> None:
    client = server.admin()
    token = client.cookies.get("posemark_session")
    assert client.post("/api/auth/logout").status_code == 204
    assert client.get("/api/auth/me").status_code == 401
    # the old cookie value is dead on the server, not just forgotten by this client
    replay = server.anonymous()
    replay.cookies.set("posemark_session", token)
    assert replay.get("/api/auth/me").status_code == 401


def test_state_changes_without_the_csrf_token_get_403(server: Server) -> None:
    client = server.admin()
    token = client.headers.pop("X-CSRF-Token")
    r = client.post("/api/projects", json={"name": "p", "skeleton": "coco17"})
    assert r.status_code == 403
    assert r.json()["code"] == "forbidden"
    assert "X-CSRF-Token" in r.json()["detail"]
    r = client.post(
        "/api/projects", json={"name": "p", "skeleton": "coco17"}, headers={"X-CSRF-Token": "x"}
    )
    assert r.status_code == 403
    assert client.post("/api/auth/logout").status_code == 403
    r = client.post(
        "/api/projects", json={"name": "p", "skeleton": "coco17"}, headers={"X-CSRF-Token": token}
    )
    assert r.status_code == 201


def test_csrf_token_of_another_session_is_refused(server: Server) -> None:
    server.add_user("ann")
    admin, ann = server.admin(), server.login("ann")
    admin.headers["X-CSRF-Token"] = ann.headers["X-CSRF-Token"]
    assert admin.post("/api/projects", json={"name": "p", "skeleton": "coco17"}).status_code == 403


def test_admins_create_accounts_others_cannot(server: Server) -> None:
    admin = server.admin()
    r = admin.post("/api/users", json={"username": "bob", "password": PASSWORD})
    assert r.status_code == 201
    assert r.json()["user"]["username"] == "bob"
    assert (
        admin.post("/api/users", json={"username": "bob", "password": PASSWORD}).status_code == 409
    )
    r = admin.post("/api/users", json={"username": "eve", "password": "short"})
    assert r.status_code == 400
    assert "password" in r.json()["detail"]
    bob = server.login("bob")
    r = bob.post("/api/users", json={"username": "carl", "password": PASSWORD})
    assert r.status_code == 403


def test_first_start_generates_a_one_time_admin_password(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from posemark.server import create_app
    from posemark.services.settings import Settings

    monkeypatch.delenv("POSEMARK_ADMIN_PASSWORD", raising=False)
    settings = Settings(tmp_path / "data")
    app = create_app(settings)
    password = app.state.admin_password
    app.state.store.dispose()
    assert isinstance(password, str) and len(password) >= 12
    again = create_app(settings)  # second start: the admin exists, nothing generated
    try:
        assert again.state.admin_password is None
        client = TestClient(again)
        r = client.post("/api/auth/login", json={"username": "admin", "password": password})
        assert r.status_code == 200
    finally:
        again.state.store.dispose()
