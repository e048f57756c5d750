"""``posemark user add``: accounts for annotators and reviewers, made by whoever runs the
server (there is no self sign-up; admins can also use ``POST /api/users``)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.markup import escape
from rich.text import Text

from posemark.cli.console import fail, out
from posemark.cli.options import DEFAULT_DATA, DataDir, DbUrl, open_data

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from posemark.store.models import User

T = TypeVar("T")

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
    data: DataDir = DEFAULT_DATA,
    db: DbUrl = None,
) -> None:
    """Create an account; its password is hashed with argon2 before it is stored."""
    from posemark.services.accounts import add_account
    from posemark.services.errors import ServiceError

    generated = password is None
    secret = password if password is not None else secrets.token_urlsafe(12)
    _settings, store = open_data(data, db)
    try:
        with store.session() as session:
            user = add_account(session, None, username, secret, admin, creates_projects)
            name = user.username
    except ServiceError as exc:
        fail(escape(exc.message))
    finally:
        store.dispose()
    kind = "admin" if admin else "user"
    out.print(Text(f"created {kind} {name!r}"))
    if generated:
        out.print(Text(f"one-time password: {secret} (shown only now; it is stored hashed)"))


@users_app.command("list")
def list_users(data: DataDir = DEFAULT_DATA, db: DbUrl = None) -> None:
    """Every account: name, admin or not, active or deactivated, projects it belongs to."""
    from rich.table import Table

    from posemark.services.accounts import list_accounts

    _settings, store = open_data(data, db)
    try:
        with store.session() as session:
            rows = list_accounts(session)
    finally:
        store.dispose()
    table = Table("user", "admin", "active", "projects", "created")
    for row in rows:
        table.add_row(
            escape(str(row["username"])),
            "yes" if row["is_admin"] else "",
            "yes" if row["is_active"] else "deactivated",
            str(row["projects"]),
            str(row["created_at"])[:10],
        )
    out.print(table)


def _on_account(username: str, data: Path, db: str | None, act: Callable[[Session, User], T]) -> T:
    """Run ``act`` on the account ``username`` in one unit of work; a refusal ends the
    command with its message."""
    from posemark.services.accounts import find_account
    from posemark.services.errors import ServiceError

    _settings, store = open_data(data, db)
    try:
        with store.session() as session:
            return act(session, find_account(session, username))
    except ServiceError as exc:
        fail(escape(exc.message))
    finally:
        store.dispose()


def _set_active(username: str, data: Path, db: str | None, active: bool) -> None:
    from posemark.services.accounts import set_active

    _on_account(username, data, db, lambda s, user: set_active(s, None, user, active))
    out.print(Text(f"{'reactivated' if active else 'deactivated'} {username!r}"))


@users_app.command("deactivate")
def deactivate_user(
    username: Annotated[str, typer.Argument(help="The account to deactivate.")],
    data: DataDir = DEFAULT_DATA,
    db: DbUrl = None,
) -> None:
    """Deactivate an account: it cannot log in, its sessions end, its work stays."""
    _set_active(username, data, db, active=False)


@users_app.command("activate")
def activate_user(
    username: Annotated[str, typer.Argument(help="The account to reactivate.")],
    data: DataDir = DEFAULT_DATA,
    db: DbUrl = None,
) -> None:
    """Reactivate a deactivated account."""
    _set_active(username, data, db, active=True)


@users_app.command("reset-password")
def reset_user_password(
    username: Annotated[str, typer.Argument(help="The account whose password to reset.")],
    data: DataDir = DEFAULT_DATA,
    db: DbUrl = None,
) -> None:
    """Give the account a new one-time password (printed once; its sessions end)."""
    from posemark.services.accounts import reset_password

    secret = _on_account(username, data, db, lambda s, user: reset_password(s, None, user))
    out.print(Text(f"one-time password for {username!r}: {secret} (shown only now)"))
