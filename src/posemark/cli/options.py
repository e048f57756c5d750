"""The options and arguments several commands share, each written once, and what the
``--data``/``--db`` pair opens.

A command names the alias (``data: DataDir = DEFAULT_DATA``) instead of repeating the
``typer.Option`` with its help text, so ``--data`` reads the same in every ``--help``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from posemark.cli.console import fail

if TYPE_CHECKING:
    from posemark.services.settings import Settings
    from posemark.store.engine import Store

DEFAULT_DATA = Path("posemark-data")

DataDir = Annotated[
    Path,
    typer.Option(
        "--data", help="Folder for the database (SQLite by default), media and thumbnails."
    ),
]
DbUrl = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL, e.g. postgresql://user@host/db (default: SQLite in --data).",
        show_default=False,
    ),
]
RedisUrl = Annotated[
    str | None,
    typer.Option(
        "--redis",
        help="Redis URL for the operation queue, e.g. redis://host:6379/0 (default: the "
        "database's own queue).",
        show_default=False,
    ),
]
ProjectRef = Annotated[str, typer.Argument(help="Project name or id.", show_default=False)]
FileFormat = Annotated[
    str | None,
    typer.Option(
        "--format", help="Format name (default: detected from the content).", show_default=False
    ),
]

RestartRun = Annotated[
    bool,
    typer.Option(
        "--restart", help="Discard OUT.progress.jsonl of an earlier run and start afresh."
    ),
]


def open_data(data: Path, db: str | None) -> tuple[Settings, Store]:
    """Settings and a migrated store for ``--data``/``--db`` (fails cleanly when the
    database cannot be reached)."""
    from sqlalchemy.exc import SQLAlchemyError

    from posemark.services.settings import Settings
    from posemark.store import open_store, upgrade_to_head

    settings = Settings(data_dir=data, db_url=db or "")
    settings.make_dirs()
    store = open_store(settings.db_url)
    try:
        upgrade_to_head(store.engine)
    except SQLAlchemyError as exc:
        store.dispose()
        fail(escape(f"cannot open the database {settings.db_url}: {exc}"))
    return settings, store
