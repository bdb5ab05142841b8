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
import re
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


def decode_json(raw: bytes | str, what: str = "the request body") -> Any:
    """Parse and check one JSON document; every problem is an InvalidInput (422)."""
    try:
        document = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise InvalidInput(f"{what} is nested deeper than {MAX_DEPTH} levels") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{what} is not valid UTF-8") from exc
    except ValueError as exc:
        raise InvalidInput(f"{what} is not valid JSON") from exc
    return check_json_value(document)
