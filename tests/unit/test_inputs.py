"""The one rule layer for client JSON (stagehook.inputs): what it refuses, and where."""

from __future__ import annotations

import pytest

from stagehook.errors import InvalidInput
from stagehook.inputs import MAX_DEPTH, check_text, decode_json


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b'{"a": ["x", "\\ud800"]}', ".a[1] holds a lone UTF-16 surrogate"),
        (b'{"k\\udc00": 1}', "a key in the document holds a lone UTF-16 surrogate"),
        (b'{"a": "x\\u0000"}', ".a holds a NUL character"),
        (b'{"n": 12345678901234567890}', ".n is an integer outside 64 bits"),
        (b'{"n": -9223372036854775809}', ".n is an integer outside 64 bits"),
        (b'{"n": 1e400}', "not a valid JSON number"),
        (b'{"n": NaN}', "not a valid JSON number"),
        (b"[" * (MAX_DEPTH + 2) + b"]" * (MAX_DEPTH + 2), "nested deeper than 64 levels"),
        (b"[" * 20_000, "nested deeper than 64 levels"),
        (b'{"a": "\xff"}', "not valid UTF-8"),
        (b"{not json", "not valid JSON"),
    ],
)
def test_refused_with_the_place_named(raw: bytes, fragment: str) -> None:
    with pytest.raises(InvalidInput) as err:
        decode_json(raw)
    assert fragment in err.value.message


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": "\\ud83d\\ude00", "b": "caf\\u00e9"}',
        b'{"n": 9223372036854775807, "m": -9223372036854775808, "f": 1.5e10}',
        b"[" * MAX_DEPTH + b"]" * MAX_DEPTH,
        '{"text": "naïve"}',
    ],
)
def test_accepted_unchanged(raw: bytes | str) -> None:
    decode_json(raw)


def test_plain_text_rule() -> None:
    assert check_text("fine") == "fine"
    for bad in ("a\x00b", "a\ud800b"):
        with pytest.raises(InvalidInput):
            check_text(bad, "title")


def test_a_refused_number_does_not_taint_the_next_document() -> None:
    """The parser is made once per thread; what it noted of one document is not carried
    into the next, on this thread or another."""
    import threading

    huge = b'{"n": 12345678901234567890}'
    for _ in range(2):
        with pytest.raises(InvalidInput):
            decode_json(huge)
        assert decode_json(b'{"n": 1, "x": [2.5]}') == {"n": 1, "x": [2.5]}
    results: list[object] = []

    def elsewhere() -> None:
        results.append(decode_json(b"[1, 2]"))
        try:
            decode_json(huge)
        except InvalidInput as exc:
            results.append(exc.message)

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join(timeout=30)
    assert results[0] == [1, 2] and "outside 64 bits" in str(results[1])
    assert decode_json(b"[3]") == [3]
