"""Answers the store already shaped: JSON bytes straight from the data, no second pass.

A route that returns a dict has FastAPI validate it against the route's
``response_model`` and then serialize the validated model (for a sync endpoint the
validation takes one more thread hop). For a page of 500 tasks that was most of the
request's own work, spent re-checking rows the store had read from typed columns. The
answers here skip that pass while the route keeps its ``response_model=``, so OpenAPI,
the generated clients and the contract tests see the same declared shape:

- ``ShapedJSONResponse(data)``: ``pydantic_core.to_json(data)``, the bytes pydantic writes
  for the model provided ``data`` has the model's shape exactly: the same keys in the
  model's field order, values already of each field's JSON type (an enum as its value).
- ``json_page(key, items, next_cursor)``: a ``Page`` whose items are JSON objects the
  database rendered (``store/json_rows.py``), UTF-8, joined with commas and sent unparsed.

Use them only where the store builds that shape itself, and add the route to
``tests/integration/test_shaped_json.py``, which holds each such route's body to the
model's own serialization (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pydantic_core
from starlette.responses import Response


class ShapedJSONResponse(Response):
    """``content`` serialized as it is (compact, UTF-8, like pydantic's ``dump_json``)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content)


def json_page(key: str, items: Sequence[bytes], next_cursor: str | None) -> Response:
    """``{"next_cursor": ..., key: [items]}``: a ``Page`` model's field order. ``items``
    are UTF-8 JSON objects, or runs of them already joined with commas; the body is
    built with one copy of them (a page of 500 tasks is 120 kB)."""
    head = b'{"next_cursor":' + pydantic_core.to_json(next_cursor) + b',"' + key.encode() + b'":['
    if len(items) > 1:
        body = b",".join([head + items[0], *items[1:-1], items[-1] + b"]}"])
    else:
        body = b"".join((head, *items, b"]}"))
    return Response(body, media_type="application/json")
