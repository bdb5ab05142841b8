"""Ontologies: stored Encord structures that grow while projects use them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Text, bindparam, cast, func, insert, select, update

from stagehook.errors import Conflict, InvalidInput, NotFound
from stagehook.labeling.ontology import Index, Structure, changed_kinds, complete, removed, to_json
from stagehook.store import parsed
from stagehook.store.access import Principal, require_ontology_editor
from stagehook.store.context import Store, decode_cursor, encode_cursor, new_hash
from stagehook.store.prepared import Prepared
from stagehook.store.tables import label_features, ontologies, projects


def _public(row: Any, used_by: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out = {
        "ontology_hash": row.ontology_hash,
        "title": row.title,
        "description": row.description,
        "structure": row.structure,
        "created_at": row.created_at,
        "last_edited_at": row.last_edited_at,
    }
    if used_by is not None:
        out["projects"] = used_by
    return out


def _row(conn: Connection, ontology_hash: str, *, lock: bool = False) -> Any:
    query = select(ontologies).where(ontologies.c.ontology_hash == ontology_hash)
    if lock and conn.engine.dialect.name != "sqlite":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"ontology {ontology_hash} does not exist")
    return row


def require_ontology(conn: Connection, ontology_hash: str) -> None:
    _row(conn, ontology_hash)


def _projects_using(conn: Connection, ontology_hash: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(projects.c.project_hash, projects.c.title)
        .where(projects.c.ontology_hash == ontology_hash)
        .order_by(projects.c.seq)
    ).all()
    return [{"project_hash": r.project_hash, "title": r.title} for r in rows]


def create_ontology(
    store: Store, principal: Principal, title: str, description: str, structure: Structure
) -> dict[str, Any]:
    now = store.clock.now()
    ontology_hash = new_hash()
    values = {
        "ontology_hash": ontology_hash,
        "title": title,
        "description": description,
        "structure": to_json(complete(structure)),
        "created_by": principal.user_id,
        "created_at": now,
        "last_edited_at": now,
    }
    with store.db.write() as conn:
        conn.execute(insert(ontologies).values(**values))
        return _public(_row(conn, ontology_hash), [])


def get_ontology(store: Store, ontology_hash: str) -> dict[str, Any]:
    with store.db.read() as conn:
        return _public(_row(conn, ontology_hash), _projects_using(conn, ontology_hash))


def list_ontologies(store: Store, limit: int, cursor: str | None) -> tuple[list[Any], str | None]:
    after = decode_cursor(cursor)
    with store.db.read() as conn:
        rows = conn.execute(
            select(ontologies)
            .where(ontologies.c.seq > after)
            .order_by(ontologies.c.seq)
            .limit(limit + 1)
        ).all()
    page = [_public(r) for r in rows[:limit]]
    return page, encode_cursor(rows[limit - 1].seq) if len(rows) > limit else None


def feature_uses(conn: Connection, ontology_hash: str, hashes: list[str]) -> dict[str, int]:
    """Per hash, how many label instances and answers in projects on this ontology use it."""
    rows = conn.execute(
        select(label_features.c.feature_hash, func.sum(label_features.c.uses))
        .where(
            label_features.c.feature_hash.in_(hashes),
            label_features.c.project_hash.in_(
                select(projects.c.project_hash).where(projects.c.ontology_hash == ontology_hash)
            ),
        )
        .group_by(label_features.c.feature_hash)
    ).all()
    return {feature: int(n) for feature, n in rows if n}


def update_ontology(
    store: Store,
    principal: Principal,
    ontology_hash: str,
    title: str,
    description: str,
    structure: Structure,
) -> dict[str, Any]:
    """Replace the structure: additions always; dropping an element labels use is a 409."""
    new = complete(structure)
    with store.db.write() as conn:
        row = _row(conn, ontology_hash, lock=True)
        require_ontology_editor(principal, row.created_by)
        old = Structure.model_validate(row.structure)
        problems = changed_kinds(old, new)
        if problems:
            raise InvalidInput(
                "an element keeps its meaning once created; add a new one instead: "
                + "; ".join(problems)
            )
        gone = removed(old, new)
        if gone:
            uses = feature_uses(conn, ontology_hash, list(gone))
            if uses:
                used = "; ".join(
                    f"{n} label{'s' if n != 1 else ''} use {gone[h]!r}"
                    for h, n in sorted(uses.items(), key=lambda item: gone[item[0]])
                )
                raise Conflict(
                    f"cannot remove elements that labels use: {used}. Remove those labels "
                    "first, or keep the element and mark it archived"
                )
        conn.execute(
            update(ontologies)
            .where(ontologies.c.ontology_hash == ontology_hash)
            .values(
                title=title,
                description=description,
                structure=to_json(new),
                last_edited_at=store.clock.now(),
            )
        )
        return _public(_row(conn, ontology_hash), _projects_using(conn, ontology_hash))


#: A project's ontology as stored, unparsed: ``parsed`` caches its index by this text.
_PROJECT_STRUCTURE = Prepared(
    select(cast(ontologies.c.structure, Text))
    .select_from(projects.join(ontologies, projects.c.ontology_hash == ontologies.c.ontology_hash))
    .where(projects.c.project_hash == bindparam("project_hash"))
)


def project_index(conn: Connection, project_hash: str) -> Index | None:
    """The ontology a project labels with, or None for a project without one."""
    row = _PROJECT_STRUCTURE.first(conn, {"project_hash": project_hash})
    return None if row is None else parsed.index(row[0])
