"""``posemark gold`` and ``posemark overlap``: the agreement and gold set-up of a project
from the command line, as the project page does it (same services, same rules).

Both act as a named manager (``--as``): the actions are recorded under that account and
its rights are checked, exactly as for a manager clicking the buttons.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.text import Text

from posemark.cli.console import fail, out
from posemark.cli.projects import DATA_HELP, DB_HELP, _open

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from posemark.services.projects import ProjectAccess
    from posemark.store.models import User

AS_HELP = "The manager (or admin) account the action is recorded under."


def register(app: typer.Typer) -> None:
    app.command("gold")(gold)
    app.command("overlap")(overlap)


def gold(
    project: Annotated[str, typer.Argument(help="Project name or id.", show_default=False)],
    items: Annotated[
        list[str],
        typer.Argument(
            help="Items to make gold: item ids or file names. Their current annotation "
            "becomes the known answer.",
            show_default=False,
        ),
    ],
    actor: Annotated[str, typer.Option("--as", help=AS_HELP, show_default=False)],
    annotators: Annotated[
        list[str] | None,
        typer.Option(
            "--annotator",
            help="Who gets the gold items, unannounced (repeat; default: every annotator).",
            show_default=False,
        ),
    ] = None,
    data: Annotated[Path, typer.Option("--data", help=DATA_HELP)] = Path("posemark-data"),
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP, show_default=False)] = None,
) -> None:
    """Mark items as gold and mix them into annotators' jobs."""
    from sqlalchemy import select

    from posemark.services.gold import mark_gold
    from posemark.store.models import Item

    def act(session: Session, access: ProjectAccess, user: User) -> dict[str, Any]:
        rows = dict(
            session.execute(
                select(Item.file_name, Item.id).where(Item.project_id == access.project.id)
            ).all()
        )
        ids = [_item_id(ref, rows) for ref in items]
        return mark_gold(session, access, user, ids, annotators=annotators or None)

    done = _as_manager(data, db, project, actor, act)
    out.print(Text(f"{len(done['gold'])} gold item(s); {done['replicas']} annotator copies"))


def overlap(
    project: Annotated[str, typer.Argument(help="Project name or id.", show_default=False)],
    share: Annotated[
        float,
        typer.Option("--share", min=0.0, max=1.0, help="Share of the items (e.g. 0.05-0.1)."),
    ],
    actor: Annotated[str, typer.Option("--as", help=AS_HELP, show_default=False)],
    per_item: Annotated[
        int, typer.Option("--annotators", min=2, help="Annotators per overlap item.")
    ] = 2,
    seed: Annotated[int, typer.Option("--seed", help="Which items are drawn.")] = 0,
    data: Annotated[Path, typer.Option("--data", help=DATA_HELP)] = Path("posemark-data"),
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP, show_default=False)] = None,
) -> None:
    """Send a share of the items to several annotators each, for agreement figures."""
    from posemark.services.agreement import assign_overlap

    done = _as_manager(
        data,
        db,
        project,
        actor,
        lambda session, access, user: assign_overlap(session, access, user, share, per_item, seed),
    )
    n = len(done["items"])
    out.print(Text(f"{n} overlap item(s), {per_item} annotators each; {done['replicas']} copies"))


def _as_manager(
    data: Path,
    db: str | None,
    project: str,
    actor: str,
    act: Callable[[Session, ProjectAccess, User], dict[str, Any]],
) -> dict[str, Any]:
    """Run ``act`` on the project as ``actor`` (the services check the rights); any
    refusal ends the command with its message, having written nothing."""
    from posemark.services.errors import ServiceError

    _settings, store = _open(data, db)
    try:
        with store.session() as session:
            access, user = _manager_access(session, project, actor)
            return act(session, access, user)
    except ServiceError as exc:
        fail(escape(exc.message))
    finally:
        store.dispose()


def _manager_access(session: Session, project: str, actor: str) -> tuple[ProjectAccess, User]:
    """The project as ``actor`` sees it; the services check that they may manage it."""
    from sqlalchemy import select

    from posemark.services.errors import NotFound
    from posemark.services.projects import find_project, get_project
    from posemark.store.models import User

    user = session.scalar(select(User).where(User.username == actor))
    if user is None:
        raise NotFound(f"--as: no account named {actor!r}")
    target = find_project(session, project)
    return get_project(session, user, target.id), user


def _item_id(ref: str, by_name: dict[str, int]) -> int:
    from posemark.services.errors import NotFound

    if ref in by_name:
        return by_name[ref]
    if ref.isdigit() and int(ref) in by_name.values():
        return int(ref)
    raise NotFound(f"no item {ref!r} in the project (give an item id or its file name)")
