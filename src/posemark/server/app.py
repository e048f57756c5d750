"""Build the FastAPI application: store, migrations, first admin, routers, web editor.

Everything that must happen before the first request happens in ``create_app`` (not in
a startup hook), so ``posemark serve`` can print the admin's one-time password before
uvicorn starts, and tests get a ready app from one call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from posemark import __version__
from posemark.server import problems
from posemark.server.guards import RequestGuard
from posemark.server.headers import SecurityHeaders
from posemark.server.routers import ROUTERS
from posemark.services.annotation import configure_limits
from posemark.services.settings import Settings
from posemark.services.staging import sweep
from posemark.services.users import ensure_admin
from posemark.store import open_store, upgrade_to_head

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def create_app(settings: Settings, password_env: str = "POSEMARK_ADMIN_PASSWORD") -> FastAPI:
    """A ready application; ``app.state.admin_password`` holds a generated one-time
    password when this start created the admin account (None otherwise), and
    ``app.state.admin_message`` says what this start did about the admin account."""
    settings.check()
    settings.make_dirs()
    configure_limits(settings.max_instances_per_item, settings.max_keypoints_per_item)
    store = open_store(settings.db_url)
    try:
        upgrade_to_head(store.engine)
        with store.session() as session:
            first_admin = ensure_admin(session, password_env)
            sweep(session, settings)  # what imports killed mid-way left behind
    except BaseException:
        store.dispose()
        raise

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        store.dispose()

    app = FastAPI(
        title="posemark",
        version=__version__,
        description="Keypoint annotation server (docs/server-contract.md)",
        lifespan=lifespan,
        responses=problems.RESPONSES,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.admin_password = first_admin.password
    app.state.admin_message = first_admin.message
    problems.install(app)
    # added last runs first: headers go on every answer, the guard's 401/413 included
    app.add_middleware(RequestGuard, settings=settings, store=store)
    app.add_middleware(SecurityHeaders)
    for router in ROUTERS:
        app.include_router(router, prefix="/api")
    if WEB_DIR.is_dir():
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app
