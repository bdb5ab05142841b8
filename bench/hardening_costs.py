"""What the hardening costs on the request path, side by side in one run.

1. The JSON rule layer (``stagehook.inputs.decode_json``: parse + one walk refusing
   lone surrogates, NUL, NaN, 64-bit overflow, deep nesting) against a bare
   ``json.loads`` of the same body, for a small body and a ~1 MiB label row.
2. Resolving a browser session (``sessions.resolve_session``: one indexed lookup joined
   with the user) against authenticating an API key (``users.authenticate_key``) on the
   same SQLite store.

Run: ``python bench/hardening_costs.py``. Prints medians (CPU time) and ratios; asserts nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory

from _common import median, new_store

from stagehook.inputs import decode_json
from stagehook.store import sessions, users


def timed(fn: Callable[[], object], rounds: int) -> float:
    """Median CPU seconds per call over ``rounds`` calls (after a warm-up).

    CPU time, not wall time: on a shared machine other processes stretch wall time
    far more than they stretch the work itself.
    """
    for _ in range(min(5, rounds)):
        fn()
    samples = []
    for _ in range(rounds):
        start = time.process_time()
        fn()
        samples.append(time.process_time() - start)
    return median(samples)


def label_row(objects: int) -> bytes:
    row = {
        "objects": [
            {
                "objectHash": f"{i:08x}",
                "name": "Car",
                "boundingBox": {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4},
                "answers": [{"name": "Occluded", "value": "No"}],
            }
            for i in range(objects)
        ]
    }
    return json.dumps({"labels": row, "version": 3}).encode()


def bench_json() -> None:
    print("JSON body checks (median per body)")
    for label, body, rounds in (
        ("small (dataset title)", b'{"title": "frames of 2026-11-29"}', 2000),
        ("~1 MiB label row", label_row(4800), 30),
    ):
        bare = timed(lambda body=body: json.loads(body), rounds)
        ruled = timed(lambda body=body: decode_json(body), rounds)
        size = len(body)
        print(
            f"  {label:24} {size:>9} B  json.loads {bare * 1e6:9.1f} us"
            f"  decode_json {ruled * 1e6:9.1f} us  ratio {ruled / bare:5.2f}x"
        )


def bench_auth() -> None:
    with TemporaryDirectory() as tmp:
        store = new_store(None, Path(tmp))
        key = users.bootstrap_admin(store, None)
        assert key is not None
        principal, key_id = users.authenticate_key(store, key)
        token = sessions.start_session(
            store, principal, key_id=key_id, address="127.0.0.1", user_agent="bench"
        )
        rounds = 2000
        by_key = timed(lambda: users.authenticate_key(store, key), rounds)
        by_session = timed(lambda: sessions.resolve_session(store, token), rounds)
        store.db.dispose()
    print("Authentication on SQLite (median per request, uncached)")
    print(
        f"  API key {by_key * 1e6:7.1f} us  session {by_session * 1e6:7.1f} us"
        f"  ratio {by_session / by_key:5.2f}x"
    )


if __name__ == "__main__":
    bench_json()
    bench_auth()
