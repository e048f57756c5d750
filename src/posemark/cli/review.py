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
from posemark.cli.options import DEFAULT_DATA, DataDir, DbUrl, ProjectRef, open_data

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from posemark.services.projects import ProjectAccess
    from posemark.store.models import User

AS_HELP = "The manager (or admin) account the action is recorded under."


def register(app: typer.Typer) -> None:
    app.command("gold")(gold)
    app.command("overlap")(overlap)


def gold(
    project: ProjectRef,
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
    data: DataDir = DEFAULT_DATA,
    db: DbUrl = None,
) -> None:
    """Mark items as gold and mix them into annotators' jobs."""
    from posemark.services.gold import item_ids_by_ref, mark_gold

    def act(session: Session, access: ProjectAccess, user: User) -> dict[str, Any]:
        ids = item_ids_by_ref(session, access.project.id, items)
        return mark_gold(session, access, user, ids, annotators=annotators or None)

    done = _as_manager(data, db, project, actor, act)
    out.print(Text(f"{len(done['gold'])} gold item(s); {done['replicas']} annotator copies"))


def overlap(
    project: ProjectRef,
    share: Annotated[
        float,
        typer.Option("--share", min=0.0, max=1.0, help="Share of the items (e.g. 0.05-0.1)."),
    ],
    actor: Annotated[str, typer.Option("--as", help=AS_HELP, show_default=False)],
    per_item: Annotated[
        int, typer.Option("--annotators", min=2, help="Annotators per overlap item.")
    ] = 2,
    seed: Annotated[int, typer.Option("--seed", help="Which items are drawn.")] = 0,
    data: DataDir = DEFAULT_DATA,
    db: DbUrl = None,
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
    from posemark.services.accounts import acting_as
    from posemark.services.errors import ServiceError

    _settings, store = open_data(data, db)
    try:
        with store.session() as session:
            access, user = acting_as(session, project, actor)
            return act(session, access, user)
    except ServiceError as exc:
        fail(escape(exc.message))
    finally:
        store.dispose()
