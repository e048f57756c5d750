"""``posemark report`` on a project taken through the workflow with the services: each
format is parsed back and its figures checked against what was done."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from dbfixtures import cheap_password_hashes
from posemark.cli.main import app
from posemark.services.items import get_item, item_detail, save_annotation
from posemark.services.qa_rerun import rerun_project_qa
from posemark.services.settings import Settings
from posemark.store import open_store, upgrade_to_head
from posemark.store.models import Project, User
from posemark.store.review_models import ReplicaVersion
from posemark.store.workflow_models import ItemVersion
from qa_project import QaProject, build, noisy

__all__ = ["cheap_password_hashes"]

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Facts:
    qa: QaProject
    owner: str  # the annotator of the returned item, who fixed it twice


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: Counter[str] = Counter()
        self.links: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.links.append(value)
            if name == "id" and value:
                self.ids.append(value)


@pytest.fixture
def project(tmp_path: Path, testdata: Path) -> tuple[Settings, Facts]:
    """The workflow project, plus the returned item fixed twice by its annotator at
    known times (20 minutes apart, then after a three-hour break). SQLite through an
    explicit ``--db`` URL: the API tests run the same report on PostgreSQL too."""
    data = tmp_path / "data"
    settings = Settings(data_dir=data, db_url=f"sqlite:///{data / 'report.db'}")
    settings.make_dirs()
    store = open_store(settings.db_url)
    try:
        upgrade_to_head(store.engine)
        qa = build(store, settings, testdata)
        with store.session() as session:
            owner = session.scalar(
                select(User)
                .join(ItemVersion, ItemVersion.user_id == User.id)
                .where(ItemVersion.item_id == qa.returned_item, ItemVersion.action == "save")
            )
            assert owner is not None
            doc = noisy(qa.truth[qa.returned_item], owner.username, qa.returned_item)
            for _ in range(2):
                access = get_item(session, owner, qa.returned_item)
                seen = item_detail(session, access.item, access, owner)
                save_annotation(session, access, owner, seen["version"], doc)
                session.expire_all()
            rows = session.scalars(
                select(ItemVersion.id)
                .where(ItemVersion.item_id == qa.returned_item, ItemVersion.user_id == owner.id)
                .order_by(ItemVersion.version)
            ).all()
            assert len(rows) == 3
            for row_id, at in zip(
                rows,
                (T0, T0 + timedelta(minutes=20), T0 + timedelta(hours=3, minutes=20)),
                strict=True,
            ):
                session.execute(
                    update(ItemVersion).where(ItemVersion.id == row_id).values(created_at=at)
                )
            # their own replicas of the gold and the overlap item: saved later that day,
            # ten minutes apart (replica work is work: it counts in throughput)
            replica_rows = session.scalars(
                select(ReplicaVersion.id)
                .where(ReplicaVersion.user_id == owner.id)
                .order_by(ReplicaVersion.created_at, ReplicaVersion.id)
            ).all()
            assert len(replica_rows) == 2
            for row_id, at in zip(
                replica_rows,
                (T0 + timedelta(hours=5), T0 + timedelta(hours=5, minutes=10)),
                strict=True,
            ):
                session.execute(
                    update(ReplicaVersion).where(ReplicaVersion.id == row_id).values(created_at=at)
                )
            session.commit()
            facts = Facts(qa, owner.username)
    finally:
        store.dispose()
    return settings, facts


def _run(settings: Settings, *args: str) -> str:
    result = CliRunner().invoke(
        app,
        ["report", "qa", *args, "--data", str(settings.data_dir), "--db", settings.db_url],
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_report_in_every_format(project: tuple[Settings, Facts], tmp_path: Path) -> None:
    settings, facts = project
    report = json.loads(_run(settings, "--format", "json"))
    progress = report["progress"]
    assert progress["items"] == 4
    # gold and overlap items wait for the merge (their replicas do not move the item)
    assert progress["by_state"] == {
        "new": 2, "annotating": 1, "submitted": 0, "in_review": 0, "accepted": 1, "returned": 0,
    }  # fmt: skip
    assert sorted(j["annotator"] for j in progress["jobs"]) == ["ann1", "ann2", "ann3"]
    assert sum(j["items"] for j in progress["jobs"]) == 4 + 2 + 2  # gold to all, overlap too
    assert report["rejection"]["reviewed"] == 2
    assert report["rejection"]["returned"] == 1
    assert report["rejection"]["rate"] == 0.5
    owner = next(a for a in report["throughput"]["annotators"] if a["username"] == facts.owner)
    assert owner["saves"] == 3 + 2  # three saves of their item, one of each replica
    assert owner["hours"] == pytest.approx(20 / 60 + 10 / 60)
    qa = facts.qa
    mine = [iid for who, iid in qa.saved if who == facts.owner]  # incl. gold and overlap
    assert qa.gold_item in mine and qa.overlap_item in mine
    assert owner["items"] == len(mine)
    assert owner["instances"] == sum(len(qa.saved[(facts.owner, iid)]["instances"]) for iid in mine)
    assert owner["instances_per_hour"] == pytest.approx(owner["instances"] * 2)
    assert report["agreement"]["overall"]["compared_items"] == 1
    assert [a["username"] for a in report["gold"]["annotators"]] == ["ann1", "ann2", "ann3"]

    # QA findings are the kept ones; after a project-wide re-run (the body prior learned
    # again from the edited documents) those of `posemark qa` on the exported project
    store = open_store(settings.db_url)
    try:
        with store.session() as session:
            pid = session.scalar(select(Project.id).where(Project.name == "qa"))
            assert pid is not None
            rerun_project_qa(session, pid)
    finally:
        store.dispose()
    report = json.loads(_run(settings, "--format", "json"))
    # the project's own checks from the command line (the export is no longer the same
    # people: it gives back each imported COCO record's own area, which the project's
    # checks, judging documents, do not read)
    r = CliRunner().invoke(
        app, ["qa", "qa", "--data", str(settings.data_dir), "--db", settings.db_url, "--json"]
    )
    found = Counter((f["check"], f["severity"]) for f in json.loads(r.stdout)["findings"])
    assert report["findings"]["total"] == sum(found.values())
    assert {(c["check"], c["severity"]): c["count"] for c in report["findings"]["by_check"]} == (
        dict(found)
    )

    table = list(csv.reader(io.StringIO(_run(settings, "--format", "csv"))))
    assert table[0] == ["section", "key", "metric", "value"]
    figures = {(s, k, m): v for s, k, m, v in table[1:]}
    assert figures[("rejection", "all", "rate")] == "0.5"
    assert figures[("progress", "all", "accepted")] == "1"
    assert float(figures[("throughput", f"annotator:{facts.owner}", "hours")]) == (
        pytest.approx(30 / 60)
    )
    for a in report["gold"]["annotators"]:
        key = ("gold", f"annotator:{a['username']}", "mean_oks")
        assert float(figures[key]) == a["mean_oks"]
    for k in report["agreement"]["keypoints"]:
        value = figures[("agreement", f"keypoint:{k['keypoint']}", "mean_oks")]
        assert (float(value) if value else None) == k["mean_oks"]
    assert figures[("findings", "all", "total")] == str(report["findings"]["total"])

    page = tmp_path / "report.html"
    said = _run(settings, "--format", "html", "--out", str(page))
    assert str(page) in said.replace("\n", "")
    text = page.read_text()
    parsed = _Tags()
    parsed.feed(text)
    assert parsed.links == []  # self-contained: nothing to fetch
    assert parsed.tags["svg"] >= 6
    assert {"progress", "throughput", "rejection", "findings", "agreement", "gold"} <= set(
        parsed.ids
    )
    assert "1 returned of 2 reviewed" in text


def test_report_on_a_missing_project_fails_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = CliRunner().invoke(app, ["report", "nope", "--data", str(data)])
    assert result.exit_code == 1
    assert "no project named 'nope'" in result.output
    bad = CliRunner().invoke(app, ["report", "nope", "--format", "xml", "--data", str(data)])
    assert bad.exit_code == 1 and "--format" in bad.output
