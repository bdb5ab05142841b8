"""Users and their API keys (admins only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from stagehook.api.deps import AdminUser, Cursor, Limit, StoreDep
from stagehook.api.schemas import ApiKeyCreate, UserCreate
from stagehook.store import users
from stagehook.store.context import decode_cursor, encode_cursor

router = APIRouter(tags=["users"])


@router.post("/users", status_code=201)
def create_user(body: UserCreate, store: StoreDep, _: AdminUser) -> dict[str, Any]:
    user = users.create_user(store, body.username, is_admin=body.is_admin, password=body.password)
    return {"user_id": user.user_id, "username": user.username, "is_admin": user.is_admin}


@router.get("/users")
def list_users(
    store: StoreDep, _: AdminUser, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    everyone = users.list_users(store)
    start = decode_cursor(cursor)
    page = everyone[start : start + limit]
    more = start + limit < len(everyone)
    return {
        "users": [
            {"user_id": u.user_id, "username": u.username, "is_admin": u.is_admin} for u in page
        ],
        "next_cursor": encode_cursor(start + limit) if more else None,
    }


@router.post("/api-keys", status_code=201)
def create_api_key(body: ApiKeyCreate, store: StoreDep, _: AdminUser) -> dict[str, Any]:
    key_id, key = users.create_api_key(store, body.user_id, body.name)
    return {"key_id": key_id, "user_id": body.user_id, "name": body.name, "api_key": key}
