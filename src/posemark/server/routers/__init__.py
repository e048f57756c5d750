"""One router per resource; ``ROUTERS`` is the single list the app mounts under /api."""

from posemark.server.routers import (
    admin,
    assist,
    auth,
    comments,
    gallery,
    guidelines,
    health,
    history,
    items,
    jobs,
    occluded,
    operations,
    project_skeleton,
    projects,
    qa,
    reports,
    skeletons,
    users,
    videos,
)

ROUTERS = (
    health.router,
    auth.router,
    users.router,
    skeletons.router,
    projects.router,
    project_skeleton.router,
    items.router,
    guidelines.router,
    occluded.router,
    gallery.router,
    videos.router,
    assist.router,
    jobs.router,
    comments.router,
    history.router,
    reports.router,
    qa.router,
    admin.router,
    operations.router,
)

__all__ = ["ROUTERS"]
