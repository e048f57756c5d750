"""``posemark user add``: accounts for annotators and reviewers, made by whoever runs the
server (there is no self sign-up; admins can also use ``POST /api/users``)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.text import Text

from posemark.cli.console import fail, out
from posemark.cli.projects import DATA_HELP, DB_HELP, _open

users_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="user")


@users_app.command("add")
def add_user(
    username: Annotated[str, typer.Argument(help="The new account's user name.")],
    admin: Annotated[bool, typer.Option("--admin", help="Make the account an admin.")] = False,
    creates_projects: Annotated[
        bool,
        typer.Option(
            "--can-create-projects", help="Allow the account to create projects (and manage them)."
        ),
    ] = False,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            envvar="POSEMARK_NEW_PASSWORD",
            help="The password (default: generate one and print it once).",
            show_default=False,
        ),
    ] = None,
    data: Annotated[Path, typer.Option("--data", help=DATA_HELP)] = Path("posemark-data"),
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP, show_default=False)] = None,
) -> None:
    """Create an account; its password is hashed with argon2 before it is stored."""
    from posemark.services.errors import ServiceError
    from posemark.services.users import create_user

    generated = password is None
    secret = password if password is not None else secrets.token_urlsafe(12)
    _settings, store = _open(data, db)
    try:
        with store.session() as session:
            user = create_user(session, username, secret, admin, creates_projects)
            name = user.username
    except ServiceError as exc:
        fail(escape(exc.message))
    finally:
        store.dispose()
    kind = "admin" if admin else "user"
    out.print(Text(f"created {kind} {name!r}"))
    if generated:
        out.print(Text(f"one-time password: {secret} (shown only now; it is stored hashed)"))
