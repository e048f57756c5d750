"""``posemark serve``: the annotation server and its web editor on one port.

The first start creates the ``admin`` account and prints its password once (or takes it
from ``POSEMARK_ADMIN_PASSWORD``); ``--demo`` adds a project of generated pictures of
people so there is something to annotate right away.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.text import Text

from posemark.cli.console import err, fail, out

DATA_HELP = "Folder for the database (SQLite by default), media and thumbnails."
DB_HELP = "Database URL, e.g. postgresql://user@host/db (default: SQLite in --data)."


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    data: Annotated[Path, typer.Option("--data", help=DATA_HELP)] = Path("posemark-data"),
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP, show_default=False)] = None,
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
    )
    try:
        app = create_app(settings)
        if demo:
            with app.state.store.session() as session:
                project = ensure_demo_project(session, settings)
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
    uvicorn.run(app, host=host, port=port, log_level="info", **uvicorn_options())
