"""What a submit needs from its label rows: the ontology's required classifications."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select

from stagehook.errors import IncompleteLabels
from stagehook.labeling.ontology import Index
from stagehook.labeling.rows import missing_required
from stagehook.store.tables import label_rows, tasks


def require_complete(conn: Connection, index: Index | None, label_hashes: Sequence[str]) -> None:
    """Refuse (422 ``labels_incomplete``) the first submitted row missing a required answer.

    ``index``: the project's ontology (``ontologies.project_index``), None without one.
    """
    if not label_hashes:
        return
    if index is None or not index.required:
        return  # nothing to check: the rows are not read
    rows = conn.execute(
        select(label_rows.c.label_hash, label_rows.c.labels, tasks.c.task_uuid)
        .join(tasks, tasks.c.label_hash == label_rows.c.label_hash)
        .where(label_rows.c.label_hash.in_(list(label_hashes)))
    ).all()
    order = {label_hash: i for i, label_hash in enumerate(label_hashes)}
    for row in sorted(rows, key=lambda r: order[r.label_hash]):
        missing = missing_required(index, row.labels)
        if missing:
            names = ", ".join(repr(n) for n in missing)
            raise IncompleteLabels(
                f"task {row.task_uuid} cannot be submitted: answer the required "
                f"classification{'s' if len(missing) > 1 else ''} {names} first"
            )
