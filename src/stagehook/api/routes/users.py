"""Users and their API keys (admins only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from stagehook.api.deps import AdminUser, Cursor, Limit, StoreDep
from stagehook.api.errors import error_responses
from stagehook.api.openapi import DocumentedRoute
from stagehook.api.public import ApiKeyCreatedPublic, UserActivePublic, UserPublic, UsersPage
from stagehook.api.schemas import ApiKeyCreate, UserCreate
from stagehook.errors import InvalidInput
from stagehook.store import users
from stagehook.store.context import decode_cursor, encode_cursor

router = APIRouter(tags=["users"], route_class=DocumentedRoute)


@router.post("/users", status_code=201, response_model=UserPublic, responses=error_responses(409))
def create_user(body: UserCreate, store: StoreDep, _: AdminUser) -> dict[str, Any]:
    user = users.create_user(store, body.username, is_admin=body.is_admin, password=body.password)
    return {"user_id": user.user_id, "username": user.username, "is_admin": user.is_admin}


@router.get("/users", response_model=UsersPage)
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


@router.post(
    "/api-keys",
    status_code=201,
    response_model=ApiKeyCreatedPublic,
    responses=error_responses(404),
)
def create_api_key(body: ApiKeyCreate, store: StoreDep, _: AdminUser) -> dict[str, Any]:
    key_id, key = users.create_api_key(store, body.user_id, body.name)
    return {"key_id": key_id, "user_id": body.user_id, "name": body.name, "api_key": key}


@router.delete("/api-keys/{key_id}", status_code=204)
def revoke_api_key(key_id: str, store: StoreDep, _: AdminUser) -> Response:
    """The key stops working at once, and so does every browser session opened with it."""
    users.revoke_api_key(store, key_id)
    return Response(status_code=204)


@router.post("/users/{user_id}/deactivate", response_model=UserActivePublic)
def deactivate_user(user_id: str, store: StoreDep, admin: AdminUser) -> dict[str, Any]:
    """Sessions end and keys stop working at once; the user's history stays."""
    if user_id == admin.user_id:
        raise InvalidInput("you cannot deactivate yourself")
    user = users.set_active(store, user_id, False)
    return {"user_id": user.user_id, "username": user.username, "active": False}


@router.post("/users/{user_id}/reactivate", response_model=UserActivePublic)
def reactivate_user(user_id: str, store: StoreDep, _: AdminUser) -> dict[str, Any]:
    user = users.set_active(store, user_id, True)
    return {"user_id": user.user_id, "username": user.username, "active": True}
