"""Datasets and their data units; units added to an attached dataset become tasks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select

from stagehook.config import Settings, media_origin
from stagehook.errors import InvalidInput, NotFound
from stagehook.store.access import Principal, may_use_dataset, visible_datasets
from stagehook.store.context import Store, decode_cursor, encode_cursor, new_hash
from stagehook.store.tables import data_units, datasets, project_datasets
from stagehook.store.tasks import create_tasks

#: What an uploaded image's data unit records about its file (URI units may give a size).
MEDIA_FIELDS = ("sha256", "mime_type", "size_bytes", "width", "height")


def create_dataset(store: Store, principal: Principal, title: str) -> dict[str, Any]:
    row = {
        "dataset_hash": new_hash(),
        "title": title,
        "created_by": principal.user_id,
        "created_at": store.clock.now(),
    }
    with store.db.write() as conn:
        conn.execute(insert(datasets).values(**row))
    return row


def require_dataset(conn: Connection, principal: Principal, dataset_hash: str) -> Any:
    row = conn.execute(select(datasets).where(datasets.c.dataset_hash == dataset_hash)).first()
    if row is None or not may_use_dataset(principal, row.created_by):
        raise NotFound(f"dataset {dataset_hash} does not exist")
    return row


def check_media_uri(settings: Settings, uri: str | None) -> None:
    """Browsers load referenced images themselves: http(s) only, from allowed origins."""
    if uri is None:
        return
    try:
        origin = media_origin(uri)
    except ValueError as exc:
        raise InvalidInput(f"uri {uri!r} must be an http(s) URL the browser can load") from exc
    if settings.media_origins and origin not in settings.media_origins:
        raise InvalidInput(
            f"uri {uri!r} is not on an allowed media origin "
            f"(STAGEHOOK_MEDIA_ORIGINS: {', '.join(settings.media_origins)})"
        )


def list_datasets(
    store: Store, principal: Principal, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    query = (
        select(datasets)
        .where(visible_datasets(principal))
        .order_by(datasets.c.created_at, datasets.c.dataset_hash)
    )
    offset = decode_cursor(cursor)
    with store.db.read() as conn:
        rows = conn.execute(query.offset(offset).limit(limit + 1)).mappings().all()
    page = [dict(r) for r in rows[:limit]]
    return page, encode_cursor(offset + limit) if len(rows) > limit else None


def add_data_units(
    store: Store, principal: Principal, dataset_hash: str, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    now = store.clock.now()
    for item in items:
        check_media_uri(store.settings, item.get("uri"))
    created = [
        {
            "data_hash": new_hash(),
            "dataset_hash": dataset_hash,
            "title": item["title"],
            "uri": item.get("uri"),
            "metadata": item.get("metadata"),
            "created_at": now,
            **{key: item.get(key) for key in MEDIA_FIELDS},
        }
        for item in items
    ]
    with store.db.write() as conn:
        require_dataset(conn, principal, dataset_hash)
        if created:
            conn.execute(insert(data_units), created)
        attached = conn.execute(
            select(project_datasets.c.project_hash).where(
                project_datasets.c.dataset_hash == dataset_hash
            )
        ).scalars()
        for project_hash in list(attached):
            create_tasks(conn, store, project_hash, [u["data_hash"] for u in created], principal)
    return created


def list_data_units(
    store: Store,
    principal: Principal,
    dataset_hash: str,
    limit: int,
    cursor: str | None,
    sha256: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """``sha256`` finds uploaded copies of one file (how an importer skips what exists)."""
    after = decode_cursor(cursor)
    query = select(data_units).where(
        data_units.c.dataset_hash == dataset_hash, data_units.c.seq > after
    )
    if sha256 is not None:
        query = query.where(data_units.c.sha256 == sha256.lower())
    with store.db.read() as conn:
        require_dataset(conn, principal, dataset_hash)
        rows = conn.execute(query.order_by(data_units.c.seq).limit(limit + 1)).mappings().all()
    page = [dict(r) for r in rows[:limit]]
    next_cursor = encode_cursor(page[-1]["seq"]) if len(rows) > limit else None
    return page, next_cursor
