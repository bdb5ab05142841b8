"""Workflow graphs and ontology indexes, parsed once per stored text.

Every submit needs its project's workflow (which stage leads where, which has a webhook)
and, for the required-answer check, its ontology. Parsing them (JSON, then Pydantic
validation, then the index) cost more than all the submit's SQL together. The database
stays the only truth: each call still reads the stored text in the caller's transaction,
and the cache is keyed by that **text itself** (plus the live webhook URLs), so an edit
in any process is seen on the very next read: new text, new key. Nothing to invalidate,
no version stamps to trust. The parsed values are immutable (frozen models; an ``Index``
is only read), so sharing them between threads is safe.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from stagehook.labeling.ontology import Index, Structure
from stagehook.workflow.stages import Workflow

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: Distinct texts kept per kind; a deployment has far fewer live workflows or ontologies.
MAX_ENTRIES = 512


class _Lru(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, build: Callable[[], V]) -> V:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
                return value
        value = build()  # outside the lock: two threads may build the same value once each
        with self._lock:
            self._items[key] = value
            if len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


_graphs: _Lru[str, Workflow] = _Lru(MAX_ENTRIES)
_wired: _Lru[tuple[str, tuple[tuple[str, str], ...]], Workflow] = _Lru(MAX_ENTRIES)
_indexes: _Lru[str, Index] = _Lru(MAX_ENTRIES)


def workflow(text: str, webhook_urls: dict[str, str]) -> Workflow:
    """The graph stored as ``text`` with ``webhook_urls`` (stage -> URL) wired in."""
    graph = _graphs.get(text, lambda: Workflow.model_validate_json(text))
    urls = tuple(sorted(webhook_urls.items()))
    return _wired.get((text, urls), lambda: graph.with_webhooks(dict(urls)))


def index(text: str) -> Index:
    """The index of the ontology structure stored as ``text``."""
    return _indexes.get(text, lambda: Index(Structure.model_validate(json.loads(text))))
