"""The format registry: sniffing real files, extension fallback, errors that list names,
and a third-party format plugged in through the same ``register_format`` as COCO."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from posemark import formats
from posemark.formats import registry
from posemark.formats.coco import dataset_from_dict, dataset_to_dict
from posemark.formats.errors import FormatError, Problem
from posemark.formats.registry import (
    SNIFF_BYTES,
    FormatSpec,
    UnknownFormatError,
    json_head_keys,
    sniff_coco,
)
from posemark.model import Dataset

COCO_DOCUMENTS = [
    "coco/mmpose_coco/test_coco.json",
    "coco/mmpose_coco/test_coco_wholebody.json",
    "coco/datumaro_coco_person_keypoints/annotations/person_keypoints_train.json",
    "crowdpose/mmpose_crowdpose/test_crowdpose.json",  # "categories" first
    "halpe/mmpose_halpe/test_halpe.json",
    "aic/mmpose_aic/test_aic.json",
    "posetrack/mmpose_posetrack18/annotations/test_posetrack18_val.json",
]
COCO_RESULTS = [
    "coco/xtcocoapi_examples/example_coco_preds.json",  # keypoints
    "coco/xtcocoapi_examples/example_wholebody_preds.json",
    "coco/mmpose_coco/test_coco_det_AP_H_56.json",  # boxes only
    "posetrack/mmpose_posetrack18/annotations/test_posetrack18_human_detections.json",
]
NOT_COCO = [
    "mpii/mmpose_mpii/test_mpii.json",  # MPII list: joints/joints_vis, no image_id
    "mpii/datumaro_mpii_json/mpii_annotations.json",
    "sleap/sleap-io.js/slp/flies13.skeleton.json",  # a JSON object, but a skeleton graph
    "coco/mmpose_coco/000000000785.jpg",
]


@pytest.mark.parametrize("name", COCO_DOCUMENTS + COCO_RESULTS)
def test_coco_files_are_sniffed(testdata: Path, name: str) -> None:
    assert sniff_coco(testdata / name)
    assert registry.sniff_format(testdata / name) is formats.get_format("coco")
    assert formats.detect_format(testdata / name).name == "coco"


@pytest.mark.parametrize("name", NOT_COCO)
def test_other_files_are_not_sniffed_as_coco(testdata: Path, name: str) -> None:
    assert not sniff_coco(testdata / name)


def test_head_keys_are_top_level_or_first_element_only() -> None:
    kind, keys = json_head_keys(b'{"info": {"images": 1}, "licenses": [{"annotations": 2}], "ca')
    assert (kind, keys) == ("object", {"info", "licenses"})
    kind, keys = json_head_keys(b'[{"a": {"image_id": 1}, "bbox": [1], "s": "k"}, {"image_id": 2')
    assert (kind, keys) == ("array", {"a", "bbox", "s"})
    assert json_head_keys(b"\xef\xbb\xbf  \n[") == ("array", set())
    assert json_head_keys(b"\x89PNG") == (None, set())


def test_sniffing_reads_only_the_head_and_the_extension_is_the_fallback(tmp_path: Path) -> None:
    late = tmp_path / "late.json"
    info = "x" * (2 * SNIFF_BYTES)
    late.write_text(json.dumps({"info": info, "images": [], "annotations": [], "categories": []}))
    assert not sniff_coco(late)
    assert formats.detect_format(late).name == "coco"  # by extension
    assert registry.extension_fallback_note(late) is not None
    assert formats.read(late).kind == "dataset"


def test_extension_fallback_for_unrecognised_content(testdata: Path, tmp_path: Path) -> None:
    odd = tmp_path / "odd.json"
    odd.write_text('{"hello": [1, 2, 3]}')
    assert formats.detect_format(odd).name == "coco"
    note = registry.extension_fallback_note(odd)
    assert note is not None and "matched no known format" in note and "coco" in note
    assert registry.extension_fallback_note(odd, format="coco") is None
    # an MPII list is .json too, but its content says what it is
    assert formats.detect_format(testdata / "mpii/mmpose_mpii/test_mpii.json").name == "mpii-json"
    assert registry.extension_fallback_note(testdata / "coco/mmpose_coco/test_coco.json") is None


def test_unknown_format_name_lists_known_formats() -> None:
    with pytest.raises(UnknownFormatError, match=r"unknown format 'nope'; known formats: coco, "):
        formats.get_format("nope")
    assert formats.get_format("COCO").name == "coco"


def test_undetectable_file_is_named_with_known_formats(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("just some text\n")
    with pytest.raises(UnknownFormatError, match=r"notes\.txt: no registered format .*: coco"):
        formats.detect_format(notes)
    with pytest.raises(FileNotFoundError, match=r"missing\.json: no such file"):
        formats.detect_format(tmp_path / "missing.json")


def test_output_format_from_extension() -> None:
    assert formats.format_for_extension("out/Train.JSON").name == "coco"
    with pytest.raises(UnknownFormatError, match=r"out\.bin: cannot tell .* coco \(\.json\)"):
        formats.format_for_extension("out.bin")


def test_duplicate_names_are_refused_and_names_checked() -> None:
    coco = formats.get_format("coco")
    with pytest.raises(ValueError, match="already registered"):
        formats.register_format(coco)
    assert formats.list_formats()[0] is coco
    with pytest.raises(ValueError, match="format name"):
        FormatSpec("Bad Name", "", coco.read, coco.write, coco.sniff, (), "")


def test_read_collects_warnings_when_given_a_sink(testdata: Path) -> None:
    problems: list[Problem] = []
    dataset = formats.read(
        testdata / "crowdpose/mmpose_crowdpose/test_crowdpose.json", on_warning=problems.append
    )
    assert len(dataset.instances) == 5
    assert [(p.record, p.field) for p in problems] == [
        ("category id 1 (person)", "skeleton"),
        ("annotation id 123803", "num_keypoints"),
    ]


def test_write_picks_the_format_from_the_extension(testdata: Path, tmp_path: Path) -> None:
    src = testdata / "coco/mmpose_coco/test_coco.json"
    spec = formats.write(formats.read(src), tmp_path / "copy.json")
    assert spec.name == "coco"
    assert json.loads((tmp_path / "copy.json").read_text()) == json.loads(src.read_text())


def test_validate_uses_the_format_hook(testdata: Path) -> None:
    assert formats.validate(testdata / "coco/mmpose_coco/test_coco.json") == []
    # an MPII list is valid MPII, but as COCO every record lacks image_id
    assert formats.validate(testdata / "mpii/mmpose_mpii/test_mpii.json") == []
    problems = formats.validate(testdata / "mpii/mmpose_mpii/test_mpii.json", format="coco")
    assert (problems[0].severity, problems[0].record, problems[0].field) == (
        "error",
        "annotations[0]",
        "image_id",
    )


# ---------------------------------------------------------------- a third-party format

MAGIC = b"PMTEST\n"


def _sniff(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(len(MAGIC)) == MAGIC


def _read(path: Path, *, on_warning: Callable[[Problem], None] | None = None) -> Dataset:
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        raise FormatError.at(path, "missing the PMTEST header", "header")
    if on_warning is not None:
        on_warning(Problem("warning", str(path), "header", None, "test format quirk"))
    return dataset_from_dict(json.loads(data[len(MAGIC) :]), str(path))


def _write(dataset: Dataset, path: Path, progress: Callable[[int], None] | None = None) -> None:
    path.write_bytes(MAGIC + json.dumps(dataset_to_dict(dataset)).encode())
    if progress is not None:
        progress(len(dataset.instances))


@pytest.fixture
def pmtest() -> Iterator[FormatSpec]:
    """A plugin format (a header line, then COCO JSON), registered like a plugin would."""
    spec = formats.register_format(
        FormatSpec(
            name="pmtest",
            description="test format",
            read=_read,
            write=_write,
            sniff=_sniff,
            extensions=("pmt",),
            what_it_loses="everything COCO loses",
        )
    )
    yield spec
    formats.unregister_format("pmtest")


def test_third_party_format_is_used_by_read_write_and_detect(
    pmtest: FormatSpec, testdata: Path, tmp_path: Path
) -> None:
    assert pmtest.extensions == (".pmt",)
    source = formats.read(testdata / "coco/mmpose_coco/test_coco.json")
    rows: list[int] = []
    out = tmp_path / "copy.pmt"
    assert formats.write(source, out, progress=rows.append) is pmtest
    assert rows == [14]
    # content wins over a misleading extension
    disguised = tmp_path / "disguised.json"
    disguised.write_bytes(out.read_bytes())
    assert formats.detect_format(disguised) is pmtest
    back = formats.read(disguised)
    assert dataset_to_dict(back) == dataset_to_dict(source)
    assert (
        formats.read(out, format="pmtest").instances.ids.tolist() == source.instances.ids.tolist()
    )
    with pytest.raises(UnknownFormatError, match=r"known formats: .*pmtest"):
        formats.get_format("nope")


def test_third_party_format_without_validate_hook_is_validated_by_reading(
    pmtest: FormatSpec, tmp_path: Path
) -> None:
    good = tmp_path / "good.pmt"
    good.write_bytes(MAGIC + b'{"images": [], "annotations": [], "categories": []}')
    assert [p.message for p in formats.validate(good)] == ["test format quirk"]
    bad = tmp_path / "bad.pmt"
    bad.write_bytes(b"{}")
    problems = formats.validate(bad, format="pmtest")
    assert [(p.severity, p.record, p.message) for p in problems] == [
        ("error", "header", "missing the PMTEST header")
    ]


def test_convert_to_a_lossy_format_warns_with_counts(testdata: Path, tmp_path: Path) -> None:
    """A conversion says what the target format drops and how many records are affected."""
    from posemark.services.convert import convert

    def losses(dataset: Dataset) -> list[str]:
        occluded = int((dataset.instances.visibility == 1).sum())
        return [f"{occluded} occluded keypoints become visible"] if occluded else []

    formats.register_format(
        FormatSpec(
            name="lossy",
            description="test format that cannot say occluded",
            read=_read,
            write=_write,
            sniff=_sniff,
            extensions=("lossy",),
            what_it_loses="occlusion",
            losses=losses,
        )
    )
    try:
        report = convert(testdata / "coco/mmpose_coco/test_coco.json", tmp_path / "out.lossy")
    finally:
        formats.unregister_format("lossy")
    lost = [w.message for w in report.warnings if w.message.startswith("lossy loses:")]
    assert lost == ["lossy loses: 17 occluded keypoints become visible"]


def test_coco_counts_what_it_cannot_keep(testdata: Path) -> None:
    dataset = formats.read(testdata / "coco/mmpose_coco/test_coco.json")
    coco = formats.get_format("coco")
    assert coco.losses is not None
    assert coco.losses(dataset) == []
    dataset.instances.source[:3] = 1  # model suggestions
    dataset.instances.confirmed[:2] = False
    assert coco.losses(dataset) == [
        "3 instance(s) come from a model, interpolation or propagation; COCO keeps no source, "
        "so they will read back as human annotations",
        "2 unconfirmed instance(s) will read back as confirmed",
    ]


def test_formats_command_lists_every_format_with_its_losses() -> None:
    from typer.testing import CliRunner

    from posemark.cli.main import app

    result = CliRunner().invoke(app, ["formats", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    by_name = {r["name"]: r for r in rows}
    assert by_name["coco"]["extensions"] == [".json"]
    assert "track names" in by_name["coco"]["what_it_loses"]
    assert {r["name"] for r in rows} == {s.name for s in formats.list_formats()}
    table = CliRunner().invoke(app, ["formats"], env={"COLUMNS": "200"})
    assert table.exit_code == 0
    assert "coco" in table.output and "what it cannot keep" in table.output
