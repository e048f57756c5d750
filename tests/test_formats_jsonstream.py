"""JsonStream: the events of a document rebuild exactly what ``json.loads`` gives.

Every document is streamed with block sizes from 1 byte (every boundary falls inside a
block) to 4096 (the whole document in one block), both exactly (iteration) and with
speculative batches (``events()``, a batch that does not decode is thrown back with
``Respeculate``). Malformed documents must never be accepted: the stream raises a
located FormatError, or the raw batch it hands out fails to decode (the caller's decoder
is the second line of defence for element syntax).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posemark.formats.errors import FormatError
from posemark.formats.jsonstream import (
    ArrayBatch,
    ArrayStart,
    Event,
    JsonStream,
    Respeculate,
    TopValue,
)

BLOCK_SIZES = [1, 2, 7, 64, 4096]

TRICKY = {
    "brackets-in-strings": r'{"s": "a\\\"]}", "b": ["x]", "y\"}", {"k": "[,:]"}], "z": 3}',
    "even-backslashes": r'{"a": ["x\\\\", "]", "\\", "\\\"[", "{\\"], "b": "\\"}',
    "escaped-quote-then-bracket": r'{"a": [{"q": "\"]\"}"}, {"q": "\\\\\\\"}],"}], "t": "]"}',
    "key-with-brackets": r'{"a]\"": [1], "b{": {"c": "}"}, "[": "]", "d,": [{"e:": ","}]}',
    "unicode": '{"u": "é ü \\u00e9 😀 ]", "v": ["😀]", "\\ud83d\\ude00", "日本語 [{"]}',
    "nested-arrays": '{"a": [[1, [2, [3, [4]]]], [], [[]], {"b": [[{"c": [1]}]]}]}',
    "empty-arrays": '{"e": [], "f": [ ], "g": [\n\n], "n": null}',
    "scalars": '{"ids": [1, 2, 3], "s": ["a", "b"], "m": [true, false, null, -1.5e3, 0]}',
    "top-level-scalars": (
        '{"a": 1, "b": "x", "c": [1], "d": true, "e": null, "f": {"g": [1]}, "h": 2.5}'
    ),
    "only-scalars": '{"a": 1, "b": "]"}',
    "empty-object": "{}",
    "empty-root-array": "[]",
    "root-array": '[{"image_id": 1, "score": 0.9, "keypoints": [1, 2, 0.5]}, {"a": "]"}, {}]',
    "root-array-scalars": "[1, 2.5, -3, null, true]",
    "whitespace": ' \n\t{ "a" : [ 1 , { "b" : [ ] } , 2 ] ,\r\n "c" : { } , "d" : 1 }\n \t',
    "whitespace-root": '\n[\n  {"a": 1}\n  ,\n  {"b": 2}\n]\n',
    "object-value-last": '{"a": [1], "b": {"c": [1, [2, {"d": "]"}]]}, "e": [[[]]]}',
}


def write(tmp_path: Path, text: str | bytes, name: str = "doc.json") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


MODES = ["exact", "speculative"]


def decoded_events(path: Path, block_size: int, mode: str) -> Iterator[tuple[Event, Any]]:
    """Events with their decoded value, driving speculation as a reader does."""
    stream = JsonStream(path, block_size)
    if mode == "exact":
        for ev in stream:
            assert not (isinstance(ev, ArrayBatch) and ev.speculative)
            yield ev, _decode(ev)
        return
    events = stream.events()
    ev = next(events, None)
    while ev is not None:
        try:
            value = _decode(ev)
        except ValueError:
            if not (isinstance(ev, ArrayBatch) and ev.speculative):
                raise
            ev = events.throw(Respeculate())
            continue
        yield ev, value
        ev = next(events, None)


def _decode(ev: Event) -> Any:
    if isinstance(ev, ArrayBatch):
        return json.loads(b"[" + ev.raw + b"]")
    if isinstance(ev, TopValue):
        return json.loads(ev.raw)
    return None


def rebuild(path: Path, block_size: int, mode: str = "exact") -> Any:
    """The document from the events: arrays from their batches, the rest decoded whole."""
    doc: Any = {}
    target: list[Any] | None = None
    for i, (ev, value) in enumerate(decoded_events(path, block_size, mode)):
        if isinstance(ev, ArrayStart):
            if ev.key is None:
                assert i == 0, "a root array is announced first"
                doc = target = []
            else:
                assert isinstance(doc, dict) and ev.key not in doc
                doc[ev.key] = target = []
        elif isinstance(ev, ArrayBatch):
            assert target is not None
            assert ev.key is None or doc[ev.key] is target
            target.extend(value)
        else:
            assert isinstance(ev, TopValue)
            assert isinstance(doc, dict) and ev.key not in doc, f"member {ev.key!r} twice"
            doc[ev.key] = value
    return doc


def consume(path: Path, block_size: int, mode: str = "exact") -> None:
    """Stream and decode everything, as a reader does."""
    rebuild(path, block_size, mode)


# ---------------------------------------------------------------- documents that are valid


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("block_size", BLOCK_SIZES)
@pytest.mark.parametrize("name", sorted(TRICKY))
def test_tricky_documents_rebuild(tmp_path: Path, name: str, block_size: int, mode: str) -> None:
    text = TRICKY[name]
    expected = json.loads(text)
    got = rebuild(write(tmp_path, text), block_size, mode)
    assert got == expected
    if isinstance(expected, dict):
        assert list(got) == list(expected), "top-level order"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("block_size", BLOCK_SIZES)
@pytest.mark.parametrize("name", sorted(TRICKY))
def test_batch_offset_locates_raw(tmp_path: Path, name: str, block_size: int, mode: str) -> None:
    """``offset`` points at ``raw``, or at the whitespace and comma that separate it."""
    data = TRICKY[name].encode()
    for ev, _ in decoded_events(write(tmp_path, data), block_size, mode):
        if not isinstance(ev, ArrayBatch):
            continue
        rest = data[ev.offset :].lstrip(b" \t\r\n")
        if rest.startswith(b",") and not ev.raw.startswith(b","):
            rest = rest[1:].lstrip(b" \t\r\n")
        assert rest[: len(ev.raw)] == ev.raw, f"offset {ev.offset}"


def test_real_sample_in_small_blocks_batches_its_elements(testdata: Path) -> None:
    path = testdata / "coco/mmpose_coco/test_coco.json"
    with open(path, encoding="utf-8") as fh:
        expected = json.load(fh)
    for mode in MODES:
        for block_size in (97, 1000, 1 << 20):
            assert rebuild(path, block_size, mode) == expected
    batches = [ev for ev in JsonStream(path, 1000) if isinstance(ev, ArrayBatch)]
    assert len([b for b in batches if b.key == "annotations"]) > 1
    speculative = [ev for ev, _ in decoded_events(path, 1000, "speculative")]
    assert any(isinstance(ev, ArrayBatch) and ev.speculative for ev in speculative)


@pytest.mark.parametrize("block_size", [1, 7, 64, 4096])
def test_speculation_never_cuts_inside_an_element(tmp_path: Path, block_size: int) -> None:
    """``}, {`` inside strings and nested arrays of objects look like element boundaries."""
    elements = [
        {"s": "}, {", "t": "x"},
        {"a": [{"b": 1}, {"c": "}  ,  {"}], "d": {"e": {}}},
        {"q": '\\"}, {\\'},
        {},
        {"n": [[{}, {}], [{"x": "}\n,\n{"}]]},
    ] * 5
    text = json.dumps({"annotations": elements, "info": {"k": "}, {"}})
    got = rebuild(write(tmp_path, text), block_size, "speculative")
    assert got == json.loads(text)


# JSON values with strings full of structural characters
_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from('[]{},:"\\ \n\t/'),
        st.characters(exclude_categories=("Cs",)),
    ),
    max_size=8,
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    _TEXT,
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_TEXT, inner, max_size=4)),
    max_leaves=12,
)
_DOCS = st.one_of(
    st.dictionaries(_TEXT, st.one_of(st.lists(_VALUES, max_size=6), _VALUES), max_size=5),
    st.lists(_VALUES, max_size=6),
)
_STYLES = st.sampled_from(
    [
        {},
        {"indent": 2},
        {"indent": "\t"},
        {"indent": 0},
        {"separators": (",", ":")},
        {"separators": (" , ", " : "), "indent": 1},
        {"ensure_ascii": False},
    ]
)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    doc=_DOCS,
    style=_STYLES,
    block_size=st.sampled_from(BLOCK_SIZES),
    pad=st.sampled_from(["", " ", "\n\t "]),
    mode=st.sampled_from(MODES),
)
def test_generated_documents_rebuild(
    tmp_path: Path, doc: Any, style: dict[str, Any], block_size: int, pad: str, mode: str
) -> None:
    text = pad + json.dumps(doc, **style) + pad
    path = write(tmp_path, text)
    assert rebuild(path, block_size, mode) == json.loads(text)


_OBJECT_ARRAYS = st.dictionaries(
    _TEXT, st.lists(st.dictionaries(_TEXT, _VALUES, max_size=3), max_size=8), min_size=1, max_size=3
)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=_OBJECT_ARRAYS, style=_STYLES, block_size=st.sampled_from([1, 2, 7, 64]))
def test_generated_arrays_of_objects_with_speculation(
    tmp_path: Path, doc: Any, style: dict[str, Any], block_size: int
) -> None:
    text = json.dumps(doc, **style)
    assert rebuild(write(tmp_path, text), block_size, "speculative") == json.loads(text)


# ---------------------------------------------------------------- malformed documents


def offset_of(err: FormatError) -> int:
    found = re.search(r"byte offset (\d+)", str(err))
    assert found, f"no byte offset in {err}"
    return int(found.group(1))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("block_size", BLOCK_SIZES)
@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"a": [1, 2', "inside array 'a'"),
        ('{"a": [{}, {"b": [2, 3]}, {"c": ', "inside array 'a'"),
        ('{"x": 1, "a": [{"b": "]]]}}}"', "inside array 'a'"),
        ('{"a": [1], "b": {"c": [', ""),
        ('{"a": "unterminated', ""),
        ("[{}, {}", ""),
        ("{", ""),
        ("", ""),
    ],
)
def test_truncated(tmp_path: Path, text: str, where: str, block_size: int, mode: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(FormatError, match=r"truncated JSON") as info:
        consume(path, block_size, mode)
    assert where in str(info.value)
    assert str(info.value).startswith(f"{path}: JSON: ")
    assert offset_of(info.value) == len(text.encode())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("block_size", [1, 7, 4096])
@pytest.mark.parametrize("name", ["brackets-in-strings", "root-array"])
def test_every_proper_prefix_is_rejected(
    tmp_path: Path, name: str, block_size: int, mode: str
) -> None:
    text = TRICKY[name]
    for cut in range(len(text)):
        path = write(tmp_path, text[:cut])
        with pytest.raises(ValueError):
            consume(path, block_size, mode)


@pytest.mark.parametrize("block_size", BLOCK_SIZES)
@pytest.mark.parametrize(
    ("text", "end"),
    [
        ('{"a": [1, 2]} x', 13),
        ('{"a": [1]}}', 10),
        ('{"a": [1]}]', 10),
        ('{"a": 1} 3', 8),
        ("[1, 2] [3]", 6),
        ('[1] {"a": 1}', 3),
    ],
)
def test_garbage_after_the_end(tmp_path: Path, text: str, end: int, block_size: int) -> None:
    path = write(tmp_path, text)
    with pytest.raises(FormatError, match=r"unexpected content after the end") as info:
        consume(path, block_size)
    assert end <= offset_of(info.value) <= text.index(text[end:].strip()[0], end)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("block_size", BLOCK_SIZES)
@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"a": [{"x": 1} {"y": 2}]}', id="missing-comma-objects"),
        pytest.param('{"a": [{"x": 1}, {"y": 2}  {"z": 3}, {"w": 4}]}', id="missing-comma-later"),
        pytest.param('{"a": [{"x": 1}, {"y": 2}}, {"z": 3}]}', id="extra-brace"),
        pytest.param('{"a": [[1] [2]]}', id="missing-comma-arrays"),
        pytest.param('{"a": [1 2]}', id="missing-comma-scalars"),
        pytest.param('[{"x": 1} {"y": 2}]', id="missing-comma-root"),
        pytest.param('{"a": [{"x": 1}, {"y": 2},]}', id="trailing-comma"),
        pytest.param('{"a": [1, 2,]}', id="trailing-comma-scalars"),
        pytest.param('[{"x": 1},]', id="trailing-comma-root"),
        pytest.param('{"a": [{"x": 1},, {"y": 2}]}', id="empty-element"),
        pytest.param('{"a": [,]}', id="empty-element-only"),
        pytest.param('{"a": [,1]}', id="leading-comma"),
        pytest.param("[,1]", id="leading-comma-root"),
        pytest.param('{"a": [1] "b": [2]}', id="missing-comma-between-members"),
        pytest.param('{"a": {"x": 1} "b": 2}', id="missing-comma-after-object-member"),
        pytest.param('{"a": [1],, "b": 2}', id="double-comma-between-members"),
        pytest.param('{"a": [1], }', id="trailing-comma-in-root-object"),
        pytest.param('{"a": 1,}', id="trailing-comma-after-scalar-member"),
        pytest.param('{,"a": 1}', id="leading-comma-in-root-object"),
        pytest.param('{"a" [1]}', id="missing-colon"),
        pytest.param('{"a": [1], "b"}', id="member-without-value"),
        pytest.param("{[1]}", id="array-without-name"),
    ],
)
def test_malformed_documents_are_rejected(
    tmp_path: Path, text: str, block_size: int, mode: str
) -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    with pytest.raises(ValueError):  # FormatError from the stream, or the batch fails to decode
        consume(write(tmp_path, text), block_size, mode)


@pytest.mark.parametrize("block_size", BLOCK_SIZES)
@pytest.mark.parametrize("text", ['"just a string"', "3", "null", "true"])
def test_root_scalar_is_not_a_document(tmp_path: Path, text: str, block_size: int) -> None:
    with pytest.raises(FormatError, match=r"byte offset \d+"):
        consume(write(tmp_path, text), block_size)


@pytest.mark.parametrize("block_size", BLOCK_SIZES)
def test_empty_element_is_located(tmp_path: Path, block_size: int) -> None:
    text = '{"a": [ , ]}'
    with pytest.raises(FormatError, match=r"array 'a'") as info:
        consume(write(tmp_path, text), block_size)
    assert text.index("[") < offset_of(info.value) <= text.index("]")
