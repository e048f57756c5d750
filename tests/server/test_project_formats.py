"""Files of other formats into a project and out again in the same format.

A project imports any readable format through COCO (services/import_formats.py) and
exports it back through the project's COCO export, so the exported file must be what
``posemark convert``'s round trip through COCO gives (format -> COCO -> format), and
read back by the format's reader it must hold the original's people. Real files from
../shared/testdata: DeepLabCut's openfield example (CSV), datumaro's CVAT-for-images
sample, a PoseTrack18 validation file (read as COCO: it comes back identical, parsed).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from serverkit import Server

from posemark.formats import get_format, read
from posemark.formats.coco_io import read_coco, write_coco
from posemark.services.export_formats import export_project
from posemark.services.file_skeleton import create_project_from_file
from posemark.services.import_formats import other_format, read_other
from posemark.services.importing import import_path, read_coco_file

DLC = "dlc/training/openfield-Pranav-2018-10-30/labeled-data/m4s1/CollectedData_Pranav.csv"
CVAT = "cvat/datumaro_cvat_for_images/train.xml"
POSETRACK = "posetrack/mmpose_posetrack18"


def new_project(server: Server, name: str, source: Path, images: Path | None = None) -> int:
    with server.session() as session:
        spec = other_format(source)
        dataset = read_other(source, spec, []) if spec is not None else read_coco_file(source, [])
        project, _ = create_project_from_file(session, server.settings, name, dataset, source)
        import_path(session, server.settings, project, source, images)
        return project.id


def export(server: Server, pid: int, out: Path, fmt: str) -> Path:
    from posemark.store.models import Project

    with server.session() as session:
        project = session.get(Project, pid)
        assert project is not None
        export_project(session, project, out, fmt, settings=server.settings)
    return out


def convert_round_trip(source: Path, fmt: str, tmp: Path) -> Path:
    """What ``posemark convert`` gives: the file to COCO and back to its format."""
    coco = tmp / "convert.json"
    write_coco(read(source, on_warning=lambda _p: None), coco)
    out = tmp / f"convert{source.suffix}"
    get_format(fmt).write(read_coco(coco), out, None)
    return out


def people(path: Path) -> dict[str, list[list[float | None]]]:
    """Per frame file name, its people's labeled keypoints, sorted."""
    ds = read(path, on_warning=lambda _p: None)  # the DLC copy has no images beside it
    t = ds.instances
    names = dict(zip(ds.images.ids.tolist(), ds.images.file_names, strict=True))
    out: dict[str, list[list[float | None]]] = {}
    for r in range(len(t)):
        labeled = np.repeat(t.visibility[r] > 0, 2)
        pts = t.points[r].round(2).ravel().tolist()
        kept = [p if on else None for p, on in zip(pts, labeled, strict=True)]
        out.setdefault(names[int(t.image_ids[r])], []).append(kept)
    return {k: sorted(v, key=str) for k, v in out.items()}


@pytest.mark.parametrize(("rel", "fmt"), [(DLC, "dlc"), (CVAT, "cvat")])
def test_a_file_round_trips_through_a_project_as_through_convert(
    server: Server, testdata: Path, tmp_path: Path, rel: str, fmt: str
) -> None:
    source = testdata / rel
    pid = new_project(server, fmt, source)
    out = export(server, pid, tmp_path / f"project{source.suffix}", fmt)
    assert out.read_bytes() == convert_round_trip(source, fmt, tmp_path).read_bytes()
    assert people(out) == people(source)


@pytest.mark.parametrize("suffix", [".csv", ".h5"])
def test_deeplabcut_comes_back_with_its_scorer(
    server: Server, testdata: Path, tmp_path: Path, suffix: str
) -> None:
    """The scorer (and the index layout and task) ride along as the COCO file's ``dlc``
    member, which the project keeps: the export is the original file, scorer included."""
    import pandas as pd

    source = (testdata / DLC).with_suffix(suffix)
    pid = new_project(server, f"dlc{suffix}", source)
    out = export(server, pid, tmp_path / "labeled-data/m4s1" / source.name, "dlc")
    csv = out.with_suffix(".csv")
    assert csv.read_text().splitlines()[0].split(",")[1:] == ["Pranav"] * 8
    assert csv.read_text() == source.with_suffix(".csv").read_text()
    if suffix == ".h5":
        pd.testing.assert_frame_equal(pd.read_hdf(out), pd.read_hdf(source))
    assert people(out) == people(source)


def test_posetrack18_comes_back_identical(server: Server, testdata: Path, tmp_path: Path) -> None:
    source = testdata / POSETRACK / "annotations/val/003418_mpii_test.json"
    pid = new_project(server, "pt", source, testdata / POSETRACK)
    out = export(server, pid, tmp_path / "pt.json", "posetrack")
    assert json.loads(out.read_text()) == json.loads(source.read_text())


def test_an_upload_takes_another_format_with_its_images(
    server: Server, testdata: Path, tmp_path: Path
) -> None:
    """The upload (the projects page) takes a CVAT file with its images as it takes a
    COCO file; the export gives back what the command-line import's does."""
    from posemark.services.importing import import_uploads

    source = testdata / CVAT
    folder = tmp_path / "uploads"
    folder.mkdir()
    uploads = [("train.xml", folder / "u0")]
    (folder / "u0").write_bytes(source.read_bytes())
    for n, image in enumerate(sorted((source.parent / "images").iterdir()), start=1):
        (folder / f"u{n}").write_bytes(image.read_bytes())
        uploads.append((image.name, folder / f"u{n}"))
    with server.session() as session:
        dataset = read_other(source, get_format("cvat"), [])
        project, _ = create_project_from_file(session, server.settings, "up", dataset, source)
        report = import_uploads(session, server.settings, project, uploads)
        pid = project.id
    assert (report.items_created, report.instances) == (2, 2)
    out = export(server, pid, tmp_path / "up.xml", "cvat")
    assert out.read_bytes() == convert_round_trip(source, "cvat", tmp_path).read_bytes()


def test_multi_animal_deeplabcut_keeps_individuals_and_unique_bodyparts(
    server: Server, tmp_path: Path
) -> None:
    """maDLC: the individuals' names ride as the COCO file's ``tracks`` member and the
    unique body parts as a category the project keeps beside its skeleton: the export
    is the file that was imported (tests/test_formats_dlc.py makes it)."""
    from posemark.formats.dlc import write_dlc
    from test_formats_dlc import make_multi

    source = tmp_path / "labeled-data/v1/CollectedData_me.csv"
    write_dlc(make_multi(tmp_path), source, scorer="me")
    original = source.read_text()
    config = (source.parent / "config.yaml").read_text()
    pid = new_project(server, "mice", source)
    out = export(server, pid, tmp_path / "out/labeled-data/v1/CollectedData_me.csv", "dlc")
    assert out.read_text() == original
    assert (out.parent / "config.yaml").read_text() == config
