"""ORM models of the kept QA results: findings per item, and what a project's re-run learned.

Kept apart from ``models.py`` (which imports this module at its end).

- ``qa_findings``: one row per finding of the automated checks on an item, replaced for
  exactly that item in the transaction that writes the item's annotation (save, restore,
  import, track edit, pre-label), so the project's QA page, counts, gallery and review
  order read rows through indexes instead of running the checks on every document.
  ``instance_index`` is the instance's position in the document, ``instance_id`` its
  id; ``keypoint`` is None for a finding on the whole instance.
- ``qa_instances``: one row per instance of every item, replaced with its findings:
  which keypoints are labeled (``labeled``: one character per keypoint, "1" labeled,
  "0" not) and its review ``risk`` (its findings' summed severity), so the keypoint
  gallery and the instance review count and order people without reading documents.
- ``project_qa``: per project, the body prior learned from its data (None until a
  project-wide run or a first import learned one: the anthropometric defaults apply),
  the QA thresholds the findings were computed with, and whether the findings cover the
  project (``state``: ``filling`` while a project-wide run goes, ``done`` after). A
  project without this row predates kept findings: its first QA request fills them.
- ``qa_counts``: per project, how many findings there are of each check and severity
  (key ``finding:CHECK:SEVERITY``) and how many people have each keypoint labeled (key
  ``labeled:INDEX``), changed by the same statements that replace the rows they count,
  so the QA page, the report and the gallery read totals without counting a million
  rows on every request.
- ``qa_pending``: the items an import wrote whose findings are not refreshed yet, one row
  each, written in the import's transaction (all or nothing with it) and deleted by the
  refresh that runs after its commit (services/qa_rerun.py, a batch at a time), so a
  page says how many items await it instead of showing stale findings as current.
- ``qa_risk``: the verification views' order, kept. One row per person at risk (a
  finding that harms something) with ``keypoint`` "" (not NULL: an equality, so
  PostgreSQL reads the index in its order), its review risk (what
  ``qa_instances.risk`` says), and one per labeled keypoint of that person that a
  finding on the keypoint or on the whole person puts at risk, with its gallery risk;
  ``file_name`` is the item's (names never change), the views' tie-break; ``status`` the
  item's workflow state, moved with it (services/qa_totals.py), so the review's people
  of one state are a range of ``ix_qa_risk_state`` too, whatever share of the project
  waits. Replaced with the findings it is summed from, so the first page of the gallery
  or the review is a range of an index in its order instead of a grouping and sorting of
  every finding of the project, or a walk of the risky people of items in other states.
  Counted per state and keypoint in ``qa_counts`` (``risky:STATUS:KEYPOINT``), so a page
  past the last risky person knows where the rest begin without counting them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from posemark.store.models import Base, file_name_type, utcnow


class QaFinding(Base):
    __tablename__ = "qa_findings"
    __table_args__ = (
        Index("ix_qa_findings_project_id_item_id", "project_id", "item_id", "id"),
        Index("ix_qa_findings_project_id_check_item_id", "project_id", "check", "item_id", "id"),
        Index(
            "ix_qa_findings_project_id_severity_item_id", "project_id", "severity", "item_id", "id"
        ),
        Index(
            "ix_qa_findings_project_id_check_severity",
            "project_id",
            "check",
            "severity",
            "item_id",
            "id",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    instance_index: Mapped[int] = mapped_column(Integer)
    instance_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    keypoint: Mapped[str | None] = mapped_column(String(100), nullable=True)
    check: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)


class QaInstance(Base):
    __tablename__ = "qa_instances"
    __table_args__ = (
        Index("ix_qa_instances_item_id_instance_index", "item_id", "instance_index"),
        Index("ix_qa_instances_project_id_risk", "project_id", "risk"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    instance_index: Mapped[int] = mapped_column(Integer)
    instance_id: Mapped[str] = mapped_column(String(100))
    labeled: Mapped[str] = mapped_column(String(300))
    risk: Mapped[float] = mapped_column(Float)
    track_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class QaRisk(Base):
    __tablename__ = "qa_risk"
    __table_args__ = (Index("ix_qa_risk_item_id", "item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    instance_index: Mapped[int] = mapped_column(Integer)
    keypoint: Mapped[str] = mapped_column(String(100))
    risk: Mapped[float] = mapped_column(Float)
    file_name: Mapped[str] = mapped_column(file_name_type())
    status: Mapped[str] = mapped_column(String(20), server_default="new")


# riskiest first, then file name and instance: the views' order, read as a range
Index(
    "ix_qa_risk_order",
    QaRisk.project_id,
    QaRisk.keypoint,
    QaRisk.risk.desc(),
    QaRisk.file_name,
    QaRisk.instance_index,
)
# the same order within one item state: the review's people of the waiting items
Index(
    "ix_qa_risk_state",
    QaRisk.project_id,
    QaRisk.keypoint,
    QaRisk.status,
    QaRisk.risk.desc(),
    QaRisk.file_name,
    QaRisk.instance_index,
)


class ProjectQa(Base):
    __tablename__ = "project_qa"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    prior: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    config: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(20), default="done")
    items_checked: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class QaCount(Base):
    __tablename__ = "qa_counts"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class QaPending(Base):
    __tablename__ = "qa_pending"
    __table_args__ = (Index("ix_qa_pending_project_id_item_id", "project_id", "item_id"),)

    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
