"""The layers hold: no import runs from a lower layer to a higher one, and no cycles.

Read from the source with ``ast`` (nothing is imported), so a new module is checked the
moment it exists. A module belongs to the layer of the longest prefix listed in
``LAYERS``; an unlisted module fails the test, so every new home gets a place.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "stagehook"

#: Bottom to top: a module may import its own layer and the layers below it.
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "stagehook",  # the package itself: its version
        "stagehook.clock",
        "stagehook.config",
        "stagehook.connection",
        "stagehook.errors",
        "stagehook.events",
        "stagehook.inputs",
        "stagehook.webhook_secret",
        "stagehook.webhook_targets",
    ),
    ("stagehook.workflow", "stagehook.labeling"),
    ("stagehook.store", "stagehook.media"),
    ("stagehook.delivery",),
    ("stagehook.api",),
    ("stagehook.web",),
    (
        "stagehook.runtime",
        "stagehook.serving",
        "stagehook.demo",
        "stagehook.server",
        "stagehook.worker",
        "stagehook.cli",
        "stagehook.cli_labels",
        "stagehook.importer",
        "stagehook.__main__",
    ),
)
#: Apart from the layers, each with what it may import: what people receiving or calling
#: stagehook import. Of the layers only the top one (the ``listen`` command) uses them.
APART: dict[str, frozenset[str]] = {
    "stagehook.receiver": frozenset({"stagehook.events"}),
    # Client.local() finds the server like ``stagehook url`` does.
    "stagehook.client": frozenset({"stagehook.connection", "stagehook.config"}),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str, known: dict[str, Path]) -> str:
    """``stagehook.store.webhooks`` as a module if it is one, else its package."""
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports_of(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """Every stagehook module ``name`` imports, wherever in the file (also TYPE_CHECKING)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] or [base]
        else:
            continue
        for target in targets:
            if target == "stagehook" or target.startswith("stagehook."):
                resolved = _resolve(target, known)
                if resolved != name:
                    yield resolved


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: set(imports_of(name, path, known)) for name, path in known.items()}


def _owner(name: str, owners: tuple[str, ...]) -> str | None:
    matches = [o for o in owners if name == o or name.startswith(o + ".")]
    return max(matches, key=len, default=None)


def layer_of(name: str) -> int | None:
    """The index in ``LAYERS``; None for the modules kept apart."""
    everything = tuple(o for layer in LAYERS for o in layer) + tuple(APART)
    owner = _owner(name, everything)
    if owner is None:
        raise AssertionError(f"{name} has no layer: add it to LAYERS in {__file__}")
    if owner in APART:
        return None
    return next(i for i, layer in enumerate(LAYERS) if owner in layer)


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    found = []
    for source, targets in sorted(edges.items()):
        apart = _owner(source, tuple(APART))
        for target in sorted(targets):
            if apart is not None:
                if _owner(target, (apart,)) is None and target not in APART[apart]:
                    found.append(f"{source} -> {target} ({apart} stands apart)")
                continue
            low, high = layer_of(target), layer_of(source)
            if low is None:
                if high != len(LAYERS) - 1:
                    found.append(f"{source} -> {target} (only the top layer uses it)")
            elif high is not None and low > high:
                found.append(f"{source} -> {target} (layer {high} imports layer {low})")
    return found


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_module_has_a_layer() -> None:
    for name in modules():
        layer_of(name)


def test_no_import_runs_back_up() -> None:
    assert upward_imports(graph()) == []


def test_no_two_modules_import_each_other() -> None:
    assert cycles(graph()) == []


def test_the_receiver_sdk_depends_only_on_the_event_models() -> None:
    edges = graph()
    outside = {
        target
        for source, targets in edges.items()
        if source.startswith("stagehook.receiver")
        for target in targets
        if not target.startswith("stagehook.receiver")
    }
    assert outside == {"stagehook.events"}


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"stagehook.store.x": {"stagehook.api.deps"}}, 1),
        ({"stagehook.api.deps": {"stagehook.store.x"}}, 0),
        ({"stagehook.receiver.verify": {"stagehook.store.x"}}, 1),
        ({"stagehook.store.x": {"stagehook.client"}}, 1),
        ({"stagehook.cli": {"stagehook.receiver"}}, 0),
    ],
)
def test_the_check_sees_an_upward_import(edges: dict[str, set[str]], expected: int) -> None:
    assert len(upward_imports(edges)) == expected


def test_the_check_sees_a_cycle() -> None:
    edges = {"stagehook.store.a": {"stagehook.store.b"}, "stagehook.store.b": {"stagehook.store.a"}}
    assert cycles(edges) == [["stagehook.store.a", "stagehook.store.b"]]


# ------------------------------------------------------------------ tests mirror the code
TESTS = SRC.parent / "tests"


def test_imports_between_tests_go_through_tests_support() -> None:
    """A helper two tests share lives in tests/support/; nothing imports a conftest."""
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            module = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
            if module.startswith("tests.") and not module.startswith("tests.support"):
                found.append(f"{path.relative_to(TESTS)}:{node.lineno} {module}")
    assert found == []


# ------------------------------------------------------------------ delivery/ holds no SQL
SQL_MODULES = ("sqlalchemy", "psycopg")
SQL_CALLS = frozenset({"execute", "exec_driver_sql", "text"})


def sql_in(path: Path) -> list[str]:
    """Imports of a database library and calls that build or run a statement."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names]
            found += [
                f"{path.name}:{node.lineno} imports {n}"
                for n in names
                if n.split(".")[0] in SQL_MODULES
            ]
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in SQL_CALLS:
                found.append(f"{path.name}:{node.lineno} calls {called}()")
    return found


def test_delivery_holds_no_sql() -> None:
    found = [hit for path in sorted((PACKAGE / "delivery").rglob("*.py")) for hit in sql_in(path)]
    assert found == [], "SQL belongs in store/outbox/, not delivery/"


def test_the_sql_check_sees_sql(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from sqlalchemy import text\n\ndef f(conn):\n    conn.execute(text('SELECT 1'))\n"
    )
    assert sql_in(sample) == [
        "sample.py:1 imports sqlalchemy",
        "sample.py:4 calls execute()",
        "sample.py:4 calls text()",
    ]
