"""One router per resource; ``ROUTERS`` is the single list the app mounts under /api."""

from posemark.server.routers import auth, health, items, projects, skeletons, users

ROUTERS = (
    health.router,
    auth.router,
    users.router,
    skeletons.router,
    projects.router,
    items.router,
)

__all__ = ["ROUTERS"]
