"""Overlap, gold and consensus through the services on SQLite and PostgreSQL: the figures
are those of the pure functions (tests/test_qa_*.py check those against pycocotools) on
the documents the annotators saved, and gold items look like any other item to them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from serverkit import Server
from sqlalchemy import select

from posemark.qa.agreement import consensus, pairwise_agreement
from posemark.qa.gold import score
from posemark.schemas import load_builtin
from posemark.services.agreement import assign_overlap, merge_consensus, project_agreement
from posemark.services.annotation import validate_document
from posemark.services.errors import Conflict, Forbidden
from posemark.services.gold import gold_accuracy, mark_gold
from posemark.services.importing import import_path
from posemark.services.items import get_item, item_detail, save_annotation, set_status
from posemark.services.projects import add_member, create_project, get_project
from posemark.store.models import Item, Project, User
from posemark.store.review_models import ConsensusMerge, ReplicaVersion
from posemark.store.workflow_models import ItemVersion
from qa_documents import SIGMAS
from qa_project import ANNOTATORS, MMPOSE_COCO, build, noisy


def _user(session, name: str) -> User:  # type: ignore[no-untyped-def]
    user = session.scalar(select(User).where(User.username == name))
    assert user is not None
    return user


def test_agreement_and_gold_figures_are_those_of_the_saved_work(
    server: Server, testdata: Path
) -> None:
    qa = build(server.store, server.settings, testdata)
    with server.session() as session:
        ids = {who: _user(session, who).id for who in ANNOTATORS}
        project = session.get(Project, qa.project_id)
        assert project is not None
        agreement = project_agreement(session, project)
        gold = gold_accuracy(session, project)
    docs = {ids[who]: qa.saved[(who, qa.overlap_item)] for who in ANNOTATORS}
    pairs = pairwise_agreement(docs, SIGMAS)
    (item,) = agreement["items"]
    assert item["item_id"] == qa.overlap_item and sorted(item["annotators"]) == list(ANNOTATORS)
    every = [s for p in pairs for s in p.instance_scores]
    assert item["mean_oks"] == pytest.approx(np.mean(every), rel=1e-12)
    assert agreement["overall"] == {
        "overlap_items": 1,
        "compared_items": 1,
        "mean_oks": pytest.approx(np.mean(every), rel=1e-12),
    }
    merged = consensus(docs, SIGMAS)
    by_name = {a["username"]: a for a in agreement["annotators"]}
    for who in ANNOTATORS:
        mine = [s for p in pairs if ids[who] in (p.a, p.b) for s in p.instance_scores]
        assert by_name[who]["mean_oks_vs_others"] == pytest.approx(np.mean(mine), rel=1e-12)
        result = score(docs[ids[who]], merged, SIGMAS)
        assert by_name[who]["mean_oks_vs_consensus"] == pytest.approx(result.mean_oks, rel=1e-12)
    # the careful annotator agrees best with the consensus, the careless one least
    vs = [by_name[w]["mean_oks_vs_consensus"] for w in ANNOTATORS]
    assert vs == sorted(vs, reverse=True)
    per_kp = {k["keypoint"]: k for k in agreement["keypoints"]}
    ks = np.concatenate([np.stack(p.keypoint_ks) for p in pairs if p.keypoint_ks])
    nose = ks[:, 0][np.isfinite(ks[:, 0])]
    assert per_kp["nose"]["pairs"] == nose.size
    assert per_kp["nose"]["mean_oks"] == pytest.approx(nose.mean(), rel=1e-12)

    assert gold["gold_items"] == 1
    accuracy = {a["username"]: a for a in gold["annotators"]}
    answer = qa.truth[qa.gold_item]
    for who in ANNOTATORS:
        result = score(qa.saved[(who, qa.gold_item)], answer, SIGMAS, thresholds=(0.5,))
        assert accuracy[who]["items"] == 1
        assert accuracy[who]["mean_oks"] == pytest.approx(result.mean_oks, rel=1e-12)
        assert accuracy[who]["keypoint_accuracy"] == pytest.approx(result.accuracy(0.5))
        assert (accuracy[who]["missed"], accuracy[who]["extra"]) == (0, 0)
    assert accuracy["ann1"]["mean_oks"] > accuracy["ann3"]["mean_oks"]
    assert accuracy["ann1"]["keypoint_accuracy"] > accuracy["ann3"]["keypoint_accuracy"]


def test_a_gold_item_looks_like_any_other_item_to_annotators(
    server: Server, testdata: Path
) -> None:
    qa = build(server.store, server.settings, testdata)
    with server.session() as session:
        boss, ann3 = _user(session, "boss"), _user(session, "ann3")
        access = get_project(session, boss, qa.project_id)
        # the accepted item becomes gold: its annotation is the answer, the annotators
        # get it fresh, and nothing they are shown says so
        mark_gold(session, access, boss, [qa.accepted_item], annotators=["ann3"])
        seen = get_item(session, ann3, qa.accepted_item)
        detail = item_detail(session, seen.item, seen, ann3)
        ordinary = get_item(session, ann3, qa.overlap_item)
        other = item_detail(session, ordinary.item, ordinary, ann3)
        assert set(detail) == set(other)
        assert detail["annotation"] == {"instances": []}
        assert (detail["status"], detail["version"]) == ("new", 1)
        assert (detail["can_edit"], detail["moves"]) == (True, ["submitted"])
        assert "gold" not in str(detail).lower()
        manager_view = get_item(session, boss, qa.accepted_item)
        assert item_detail(session, manager_view.item, manager_view, boss)["status"] == "accepted"
        # their saves go to their copy; the item keeps the answer
        before = session.scalar(select(Item.annotation).where(Item.id == qa.accepted_item))
        doc = noisy(qa.truth[qa.accepted_item], "ann3", qa.accepted_item)
        version, status = save_annotation(session, seen, ann3, 1, doc)
        assert (version, status) == (2, "annotating")
        with pytest.raises(Conflict) as stale:
            save_annotation(session, get_item(session, ann3, qa.accepted_item), ann3, 1, doc)
        assert stale.value.current_version == 2
        set_status(session, get_item(session, ann3, qa.accepted_item), ann3, "submitted")
        with pytest.raises(Conflict):
            save_annotation(session, get_item(session, ann3, qa.accepted_item), ann3, 2, doc)
        session.expire_all()
        after = session.scalar(select(Item.annotation).where(Item.id == qa.accepted_item))
        assert after == before
        # the one successful save is in the replica's history (the refused ones are not),
        # and the item's own history holds none of it
        history = session.execute(
            select(ReplicaVersion.version, ReplicaVersion.user_id, ReplicaVersion.annotation).where(
                ReplicaVersion.item_id == qa.accepted_item
            )
        ).all()
        assert [(v, u) for v, u, _ in history] == [(2, ann3.id)]
        assert history[0].annotation == validate_document(doc, load_builtin("coco17"))
        assert not session.scalars(
            select(ItemVersion.id).where(
                ItemVersion.item_id == qa.accepted_item, ItemVersion.user_id == ann3.id
            )
        ).all()
        project = session.get(Project, qa.project_id)
        assert project is not None
        accuracy = {a["username"]: a for a in gold_accuracy(session, project)["annotators"]}
        assert accuracy["ann3"]["items"] == 2
        assert accuracy["ann1"]["items"] == 1


def test_overlap_choice_is_seeded_and_the_merge_is_recorded(server: Server, testdata: Path) -> None:
    qa = build(server.store, server.settings, testdata)
    with server.session() as session:
        boss, ann1 = _user(session, "boss"), _user(session, "ann1")
        # the same project made again, the same seed: the same item is chosen
        again = create_project(session, server.settings, "again", "coco17", creator=boss)
        for who in ("ann1", "ann2", "ann3"):
            add_member(session, get_project(session, boss, again.id), boss, who, "annotator")
        import_path(session, server.settings, again, testdata / MMPOSE_COCO)
        session.commit()
        access = get_project(session, boss, again.id)
        from posemark.services.gold import mark_gold as gold_again

        gold_item = session.scalar(
            select(Item.id).where(Item.project_id == again.id, Item.file_name.like("%785.jpg"))
        )
        assert gold_item is not None
        gold_again(session, access, boss, [gold_item])
        picked = assign_overlap(session, access, boss, 0.25, 3, seed=1)
        names = session.scalars(select(Item.file_name).where(Item.id.in_(picked["items"]))).all()
        original = session.get(Item, qa.overlap_item)
        assert original is not None
        assert list(names) == [original.file_name]
        assert picked["replicas"] == 3

        with pytest.raises(Forbidden):
            assign_overlap(session, get_project(session, ann1, qa.project_id), ann1, 0.5)
        item = session.get(Item, qa.overlap_item)
        assert item is not None
        with pytest.raises(Forbidden):
            merge_consensus(session, get_project(session, ann1, qa.project_id), ann1, item)
        version_before = item.version
        result = merge_consensus(session, get_project(session, boss, qa.project_id), boss, item)
        ids = {who: _user(session, who).id for who in ANNOTATORS}
        docs = {ids[w]: qa.saved[(w, qa.overlap_item)] for w in ANNOTATORS}
        expected = consensus(docs, SIGMAS)
        assert result["annotation"] == expected
        assert result["version"] == version_before + 1
        assert result["annotators"] == list(ANNOTATORS)
        session.expire_all()
        stored = session.get(Item, qa.overlap_item)
        assert stored is not None and stored.annotation == expected
        merge = session.scalar(select(ConsensusMerge).where(ConsensusMerge.item_id == item.id))
        assert merge is not None and merge.user_id == boss.id
        assert merge.annotators == sorted(ids.values()) and merge.version == result["version"]
        action = session.scalar(
            select(ItemVersion.action).where(
                ItemVersion.item_id == item.id, ItemVersion.version == result["version"]
            )
        )
        assert action == "consensus"
        project = session.get(Project, qa.project_id)
        assert project is not None
        assert project_agreement(session, project)["items"][0]["merged"] is True
