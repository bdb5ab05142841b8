"""One set of rules for every JSON document a client sends: API bodies and UI forms.

A value we accept must be storable on every backend and readable back as JSON, so we
refuse, with a message naming the place: lone UTF-16 surrogates (``"\\ud800"``: they
cannot be encoded as UTF-8, so a stored row could never be sent back), NUL characters
(PostgreSQL cannot store them in text), NaN/Infinity (not JSON), integers outside 64
bits (no database column holds them) and nesting deeper than :data:`MAX_DEPTH`.

:class:`stagehook.api.json_body.JsonBodyGuard` applies the rules to every JSON request
body before any route sees it; UI routes that take JSON in a form field call
:func:`decode_json`, and every form field goes through :func:`check_text`.
"""

from __future__ import annotations

import json
import math
import re
import threading
from itertools import accumulate
from typing import Any

from stagehook.errors import InvalidInput

MAX_DEPTH = 64
MIN_INT, MAX_INT = -(2**63), 2**63 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_constant(name: str) -> Any:
    raise InvalidInput(f"{name} is not a valid JSON number (NaN and Infinity are refused)")


def _where(path: list[str]) -> str:
    return "".join(path) or "the document"


def check_text(value: str, where: str = "a text field") -> str:
    """Refuse lone surrogates and NUL characters in one string; return it unchanged."""
    if _SURROGATE.search(value):
        raise InvalidInput(f"{where} holds a lone UTF-16 surrogate, which is not valid text")
    if "\x00" in value:
        raise InvalidInput(f"{where} holds a NUL character")
    return value


def check_json_value(document: Any) -> Any:
    """Walk a decoded document (without recursion) and refuse what cannot be stored."""
    stack: list[tuple[Any, list[str], int]] = [(document, [], 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidInput(f"{_where(path)} is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, str):
            check_text(value, _where(path))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if not MIN_INT <= value <= MAX_INT:
                raise InvalidInput(f"{_where(path)} is an integer outside 64 bits")
        elif isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                _refuse_constant(_where(path))
        elif isinstance(value, dict):
            for key, item in value.items():
                check_text(key, f"a key in {_where(path)}")
                stack.append((item, [*path, f".{key}"[:80]], depth + 1))
        elif isinstance(value, list):
            stack.extend((item, [*path, f"[{i}]"], depth + 1) for i, item in enumerate(value))
    return document


class _Numbers:
    """Parse hooks that note a number the walk must refuse (it names the place)."""

    def __init__(self) -> None:
        self.suspect = False

    def int(self, literal: str) -> int:
        value = int(literal)
        self.suspect |= not MIN_INT <= value <= MAX_INT
        return value

    def float(self, literal: str) -> float:
        value = float(literal)
        self.suspect |= math.isinf(value)
        return value


class _Decoder:
    """A JSON decoder with the number hooks, made once per thread: ``json.loads`` with
    hooks builds a decoder and its scanner on every call (a tenth of a small body's
    parse)."""

    def __init__(self) -> None:
        self.numbers = _Numbers()
        self.json = json.JSONDecoder(
            parse_constant=_refuse_constant,
            parse_int=self.numbers.int,
            parse_float=self.numbers.float,
        )


class _PerThread(threading.local):
    def __init__(self) -> None:
        self.decoder = _Decoder()


_DECODERS = _PerThread()

#: Escapes that can decode to a lone surrogate or a NUL; only looked for when the text
#: holds an escape at all (a C substring search).
_SUSPECT_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]|\\u0000")
_SURROGATE_OR_NUL = re.compile("[\ud800-\udfff\x00]")
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _max_depth(text: str) -> int:
    """Deepest nesting of a parsed (so well-formed) document, from its text: strings
    removed, brackets kept, a running sum; all but the sum run in C."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    steps = brackets.replace("{", "[").replace("}", "]").encode()
    return max(accumulate(map((92).__sub__, steps)), default=0)  # "[" is 91, "]" is 93


def decode_json(raw: bytes | str, what: str = "the request body") -> Any:
    """Parse and check one JSON document; every problem is an InvalidInput (422).

    Numbers are checked as they are parsed; the walk that names the place of a bad
    string or a too-deep nesting runs only when the text could hold one, so a clean
    1 MiB label row costs a few scans in C, not a Python walk over every value.
    """
    decoder = _DECODERS.decoder
    decoder.numbers.suspect = False
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        document = decoder.json.decode(text)
    except RecursionError as exc:
        raise InvalidInput(f"{what} is nested deeper than {MAX_DEPTH} levels") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{what} is not valid UTF-8") from exc
    except ValueError as exc:
        raise InvalidInput(f"{what} is not valid JSON") from exc
    suspect = (
        decoder.numbers.suspect
        or ("\\u" in text and _SUSPECT_ESCAPE.search(text))
        or (not isinstance(raw, bytes) and _SURROGATE_OR_NUL.search(text))
    )
    if suspect or not isinstance(document, (dict, list)) or _max_depth(text) > MAX_DEPTH:
        check_json_value(document)
    return document
