"""``posemark serve``: the annotation server and its web editor on one port.

The first start creates the ``admin`` account and prints its password once (or takes it
from ``POSEMARK_ADMIN_PASSWORD``); ``--demo`` adds a project of generated pictures of
people so there is something to annotate right away.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.text import Text

from posemark.cli.console import err, fail, out
from posemark.cli.options import DEFAULT_DATA, DataDir, DbUrl, RedisUrl


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    data: DataDir = DEFAULT_DATA,
    db: DbUrl = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    project_creators: Annotated[
        str,
        typer.Option(
            "--project-creators",
            help="Who may create projects: admins, allowed (admins and accounts made with "
            "--can-create-projects or allowed by an admin) or everyone.",
        ),
    ] = "allowed",
    demo: Annotated[
        bool, typer.Option("--demo", help="Create the demo project (generated people) if missing.")
    ] = False,
    allow_media_root: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-media-root",
            help="A folder or s3://BUCKET/PREFIX whose images items may reference in place "
            "(import --link, import s3://...); repeatable.",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Web server processes (sessions and operations live in the database).",
        ),
    ] = 1,
    operation_workers: Annotated[
        int,
        typer.Option(
            "--operation-workers",
            min=0,
            help="Local `posemark worker` processes to start for background operations "
            "(0: only workers started elsewhere run them).",
        ),
    ] = 1,
    redis: RedisUrl = None,
) -> None:
    """Run the annotation server (API and web editor) until Ctrl+C."""
    import uvicorn
    from sqlalchemy.exc import SQLAlchemyError

    from posemark.server import create_app
    from posemark.server.serving import uvicorn_options
    from posemark.services.demo_project import ensure_demo_project
    from posemark.services.errors import ServiceError
    from posemark.services.media import split_roots
    from posemark.services.settings import Settings

    folders, buckets = split_roots(allow_media_root or [])
    settings = Settings(
        data_dir=data,
        db_url=db or "",
        media_roots=folders,
        media_buckets=buckets,
        project_creators=project_creators,
        redis_url=redis or "",
    )
    try:
        app = create_app(settings)
        if demo:
            from posemark.services.operation_engines import open_engine
            from posemark.services.qa_operation import queue_refresh

            with app.state.store.session() as session:
                project = ensure_demo_project(session, settings)
                # its findings, as after any import: the local worker refreshes them
                queue_refresh(session, open_engine(settings).dispatch, project.id)
            err.print(Text(f"demo project: {project.name!r} (id {project.id})"))
    except (SQLAlchemyError, OSError, ServiceError, ValueError) as exc:
        fail(escape(f"cannot start: {exc}"))
    shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
    out.print(Text(f"posemark is running at http://{shown_host}:{port}/", style="bold"))
    out.print(Text(f"data: {settings.data_dir}  database: {app.state.store.backend}"))
    out.print(Text(app.state.admin_message))
    if app.state.admin_password:
        out.print(
            Text(
                f"log in as admin with the one-time password {app.state.admin_password}",
                style="bold",
            )
        )
        out.print(Text("(shown only now; it is stored hashed)", style="dim"))
    from posemark.cli.supervise import LocalWorkers

    with LocalWorkers(settings, operation_workers):
        if workers == 1:
            from posemark.services.heap import freeze_startup_heap

            freeze_startup_heap()
            uvicorn.run(app, host=host, port=port, log_level="info", **uvicorn_options())
            return
        import os

        from posemark.server.factory import (
            CREATORS_ENV,
            DATA_ENV,
            DB_ENV,
            MEDIA_ROOTS_ENV,
            REDIS_ENV,
            app_from_env,
        )

        app.state.store.dispose()  # each server process opens its own
        os.environ.update(
            {
                DATA_ENV: str(settings.data_dir),
                DB_ENV: settings.db_url,
                REDIS_ENV: redis or "",
                MEDIA_ROOTS_ENV: "\n".join(allow_media_root or []),
                CREATORS_ENV: project_creators,
            }
        )
        uvicorn.run(
            f"{app_from_env.__module__}:{app_from_env.__name__}",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            # a process's start (imports, database check) can take seconds on a busy
            # machine; uvicorn's 5 s default would kill and restart it in a loop
            timeout_worker_healthcheck=120,
            **uvicorn_options(),
        )
