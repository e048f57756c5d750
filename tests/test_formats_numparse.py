"""parse_number_lists (posemark.formats.numlists): the fast path for
keypoint and bbox lists.

Where it answers, each value is bit for bit ``float(token)`` (strtod); None means "use the
general JSON decoder" and is always allowed for unusual input (exponents, long mantissas,
odd spacing), but never for malformed JSON accepted as numbers. Plain COCO coordinates
(integers, short decimals) must take the fast path.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posemark.formats.numlists import parse_number_lists


def bits(values: list[float] | np.ndarray) -> list[int]:
    """IEEE-754 bit patterns, so -0.0 != 0.0 and equality is exact."""
    return [struct.unpack("<q", struct.pack("<d", float(v)))[0] for v in values]


def parse_one(text: str) -> tuple[list[float], list[int]] | None:
    result = parse_number_lists([text.encode()])
    if result is None:
        return None
    values, counts = result
    assert values.dtype == np.float64
    return values.tolist(), counts.tolist()


# ---------------------------------------------------------------- tokens

_DIGIT = st.sampled_from("0123456789")
_NONZERO = st.sampled_from("123456789")


@st.composite
def decimal_tokens(draw: st.DrawFn, max_digits: int = 15) -> str:
    """JSON numbers without exponent whose digits (integer + fraction) number at most 15."""
    n_int = draw(st.integers(1, max_digits))
    if n_int == 1:
        int_part = draw(_DIGIT)
    else:
        int_part = draw(_NONZERO) + "".join(
            draw(st.lists(_DIGIT, min_size=n_int - 1, max_size=n_int - 1))
        )
    n_frac = draw(st.integers(0, max_digits - n_int))
    frac = "".join(draw(st.lists(_DIGIT, min_size=n_frac, max_size=n_frac)))
    sign = draw(st.sampled_from(["", "-"]))
    if int_part == "0" and not frac:
        sign = ""  # "-0" has its own test
    return sign + int_part + ("." + frac if frac else "")


_SPACES = st.sampled_from(["", " ", "  ", "\n", "\t", " \r\n "])


@st.composite
def number_list(draw: st.DrawFn, tokens: st.SearchStrategy[str]) -> tuple[str, list[str]]:
    items = draw(st.lists(tokens, max_size=12))
    parts = [draw(_SPACES) + t + draw(_SPACES) for t in items]
    return "[" + draw(_SPACES) + ",".join(parts) + draw(_SPACES) + "]", items


@settings(max_examples=300, deadline=None)
@given(token=decimal_tokens())
def test_single_decimal_equals_float(token: str) -> None:
    parsed = parse_one(f"[{token}]")
    assert parsed is not None, token
    values, counts = parsed
    assert counts == [1]
    assert bits(values) == bits([float(token)]), token


@settings(max_examples=200, deadline=None)
@given(lists=st.lists(number_list(decimal_tokens()), min_size=1, max_size=6))
def test_lists_of_decimals_with_spaces(lists: list[tuple[str, list[str]]]) -> None:
    result = parse_number_lists([text.encode() for text, _ in lists])
    if result is None:
        # only an empty list written with inner whitespace ("[ ]") may need the fallback
        assert any(not items and text != "[]" for text, items in lists), lists
        return
    values, counts = result
    assert counts.tolist() == [len(items) for _, items in lists]
    expected = [float(t) for _, items in lists for t in items]
    assert bits(values) == bits(expected)


@settings(max_examples=200, deadline=None)
@given(value=st.integers(-(10**15) + 1, 10**15 - 1))
def test_integers(value: int) -> None:
    assert parse_one(f"[{value}]") == ([float(value)], [1])


@settings(max_examples=200, deadline=None)
@given(value=st.integers(-(2**80), 2**80))
def test_big_integers_are_exact_or_fall_back(value: int) -> None:
    parsed = parse_one(f"[{value}]")
    if parsed is not None:
        assert bits(parsed[0]) == bits([float(str(value))])


@pytest.mark.parametrize("token", ["-0", "-0.0", "-0.00", "0", "0.0"])
def test_zero_keeps_its_sign(token: str) -> None:
    """float("-0") is -0.0: an answer keeps the sign (or the general decoder answers)."""
    parsed = parse_one(f"[{token}, 1.5]")
    if parsed is not None:
        assert bits(parsed[0]) == bits([float(token), 1.5])


@pytest.mark.parametrize(
    "token",
    ["1e5", "1E5", "1.5e-3", "-2E+2", "5e-324", "1.7976931348623157e308", "2.2250738585072014e-308",
     "1234567890123456", "0.1234567890123456", "12345678.123456789", "9007199254740993",
     "0.30000000000000004", "3.141592653589793238462643383279", "0.000000000000001"],
)  # fmt: skip
def test_exponents_and_long_mantissas_are_exact_or_fall_back(token: str) -> None:
    parsed = parse_one(f"[{token}, 1]")
    if parsed is not None:
        assert bits(parsed[0]) == bits([float(token), 1.0]), token


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("0", 0.0),
        ("0.0", 0.0),
        ("1", 1.0),
        ("-1", -1.0),
        ("0.1", 0.1),
        ("0.3", 0.3),
        ("2.675", 2.675),
        ("123456789012345", 123456789012345.0),
        ("-99999999999999.9", -99999999999999.9),
        ("0.00000000000001", 1e-14),
        ("9007199254740.99", 9007199254740.99),
    ],
)
def test_known_values(token: str, expected: float) -> None:
    parsed = parse_one(f"[{token}]")
    assert parsed is not None
    assert bits(parsed[0]) == bits([expected])


def test_empty_lists_and_empty_input() -> None:
    assert parse_one("[]") == ([], [0])
    assert parse_one("[ \n ]") in (None, ([], [0]))
    result = parse_number_lists([b"[1]", b"[]", b"[2, 3]"])
    assert result is not None
    assert result[0].tolist() == [1.0, 2.0, 3.0] and result[1].tolist() == [1, 0, 2]
    empty = parse_number_lists([])
    assert empty is not None and len(empty[0]) == 0 and len(empty[1]) == 0


# ---------------------------------------------------------------- not for the fast path


@pytest.mark.parametrize(
    "text",
    [
        # malformed tokens
        "[1.]",
        "[.5]",
        "[-.5]",
        "[--1]",
        "[-]",
        "[1-2]",
        "[1.5-]",
        "[1.2.3]",
        "[+1]",
        "[01]",
        "[-01.5]",
        "[00]",
        "[1 2]",
        "[1,,2]",
        "[,1]",
        "[1,]",
        "[,]",
        # not a flat list of numbers
        "",
        "1, 2",
        "[1, 2",
        "1, 2]",
        "[[1]]",
        "[[1], 2]",
        "[1, [2]]",
        '["1"]',
        '[1, "a"]',
        "[true]",
        "[null]",
        "[NaN]",
        "[Infinity]",
        "[1, 2]]",
        "[[1, 2]",
        "{}",
        "[1e400]",
        # text outside the brackets
        "[1]2",
        "3[1]",
        "[1] [2]",
        "[1],[2]",
        "[1]x",
        "-[1]",
        "[1].5",
    ],
)
def test_falls_back(text: str) -> None:
    assert parse_one(text) is None


def test_one_bad_list_fails_the_batch() -> None:
    assert parse_number_lists([b"[1, 2]", b"[3.]", b"[4]"]) is None
    assert parse_number_lists([b"[1, 2]", b"[3]5", b"[4]"]) is None
    assert parse_number_lists([b"[1, 2]", b"[3,]", b"[]"]) is None
    assert parse_number_lists([b"[1, 2]", b"[3", b"4]"]) is None
    assert parse_number_lists([b"[1, 2", b"]"]) is None


@settings(max_examples=300, deadline=None)
@given(token=st.text(alphabet=st.sampled_from("0123456789.-+eE, []"), min_size=1, max_size=20))
def test_any_token_is_float_or_none(token: str) -> None:
    """Whatever the bytes, an answer is what a strict JSON decoder gives, bit for bit."""
    text = f"[{token}]"
    parsed = parse_number_lists([text.encode()])
    if parsed is None:
        return
    try:
        expected = json.loads(text)
    except json.JSONDecodeError:
        pytest.fail(f"{text!r} is not JSON but was parsed as {parsed[0].tolist()}")
    assert isinstance(expected, list)
    assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in expected), text
    tokens = [t.strip() for t in text.strip()[1:-1].split(",")] if expected else []
    assert bits(parsed[0]) == bits([float(t) for t in tokens]), text  # float("-0") is -0.0
    assert parsed[1].tolist() == [len(expected)]


@settings(max_examples=200, deadline=None)
@given(
    lists=st.lists(
        st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=10),
        min_size=1,
        max_size=5,
    ),
    compact=st.booleans(),
)
def test_json_dumps_round_trip(lists: list[list[float]], compact: bool) -> None:
    separators = (",", ":") if compact else (", ", ": ")
    raws = [json.dumps(values, separators=separators).encode() for values in lists]
    result = parse_number_lists(raws)
    if result is None:
        return  # exponent or long repr: the caller decodes with msgspec instead
    values, counts = result
    assert counts.tolist() == [len(v) for v in lists]
    assert bits(values) == bits([x for v in lists for x in v])


@settings(max_examples=200, deadline=None)
@given(
    lists=st.lists(
        st.lists(
            st.one_of(
                st.integers(-100_000, 100_000),
                st.integers(-10_000_000, 10_000_000).map(lambda i: i / 100),
            ),
            max_size=51,
        ),
        min_size=1,
        max_size=5,
    )
)
def test_coco_like_coordinates_always_take_the_fast_path(lists: list[list[float]]) -> None:
    """Integer and 2-decimal coordinates (what COCO files hold) never need the fallback."""
    raws = [json.dumps(values).encode() for values in lists]
    result = parse_number_lists(raws)
    assert result is not None, raws
    assert bits(result[0]) == bits([float(x) for v in lists for x in v])
