"""Client operations on the delivery log and webhook controls, users, keys and the deployment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from stagehook.client.models import (
    ApiKey,
    Delivery,
    Membership,
    Meta,
    Recovered,
    TestSend,
    User,
    UserActive,
)
from stagehook.client.transport import Transport

_DELIVERY = "/projects/{project_hash}/deliveries/{delivery_id}"
_WEBHOOK = "/projects/{project_hash}/workflow/stages/{stage_uuid}/webhook"


class OperationsApi(Transport):
    # the delivery log
    def iter_deliveries(
        self,
        project_hash: str,
        *,
        stage_uuid: str | None = None,
        status: str | None = None,
        event_type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = 100,
    ) -> Iterator[Delivery]:
        """Newest first; ``status`` one of pending, retrying, delivered, failed, dead..."""
        return self.pages(
            Delivery,
            "/projects/{project_hash}/deliveries",
            "deliveries",
            {"project_hash": project_hash},
            stage_uuid=stage_uuid,
            status=status,
            event_type=event_type,
            since=since.isoformat() if since else None,
            until=until.isoformat() if until else None,
            limit=page_size,
        )

    def get_delivery(self, project_hash: str, delivery_id: int) -> Delivery:
        params = {"project_hash": project_hash, "delivery_id": str(delivery_id)}
        return self.one(Delivery, "GET", _DELIVERY, at=params)

    def retry_delivery(self, project_hash: str, delivery_id: int) -> Delivery:
        """Send the same event again now (same ``uid``, same body)."""
        params = {"project_hash": project_hash, "delivery_id": str(delivery_id)}
        return self.one(Delivery, "POST", _DELIVERY + "/retry", at=params)

    def recover(self, project_hash: str, stage_uuid: str, since: datetime) -> Recovered:
        """Requeue this webhook's failed deliveries created since ``since``."""
        params = {"project_hash": project_hash, "stage_uuid": stage_uuid}
        body = {"since": since.isoformat()}
        return self.one(Recovered, "POST", _WEBHOOK + "/recover", at=params, json=body)

    def test_webhook(self, project_hash: str, stage_uuid: str) -> TestSend:
        """Send a signed sample event now and report the receiver's answer (not logged)."""
        params = {"project_hash": project_hash, "stage_uuid": stage_uuid}
        return self.one(TestSend, "POST", _WEBHOOK + "/test", at=params)

    # users, keys, members (admin)
    def create_user(
        self, username: str, *, is_admin: bool = False, password: str | None = None
    ) -> User:
        body = {"username": username, "is_admin": is_admin, "password": password}
        return self.one(User, "POST", "/users", at={}, json=body)

    def iter_users(self, *, page_size: int = 100) -> Iterator[User]:
        return self.pages(User, "/users", "users", {}, limit=page_size)

    def create_api_key(self, user_id: str, name: str = "api") -> ApiKey:
        body = {"user_id": user_id, "name": name}
        return self.one(ApiKey, "POST", "/api-keys", at={}, json=body)

    def revoke_api_key(self, key_id: str) -> None:
        """The key stops working at once, and so does every browser session opened with it."""
        self.call("DELETE", "/api-keys/{key_id}", {"key_id": key_id})

    def deactivate_user(self, user_id: str) -> UserActive:
        """Sessions end and keys stop working at once; the user's history stays."""
        route = "/users/{user_id}/deactivate"
        return self.one(UserActive, "POST", route, at={"user_id": user_id})

    def reactivate_user(self, user_id: str) -> UserActive:
        route = "/users/{user_id}/reactivate"
        return self.one(UserActive, "POST", route, at={"user_id": user_id})

    def set_member(self, project_hash: str, user_id: str, role: str) -> Membership:
        """``role``: admin, team_manager, annotator or reviewer."""
        return self.one(
            Membership,
            "PUT",
            "/projects/{project_hash}/members",
            at={"project_hash": project_hash},
            json={"user_id": user_id, "role": role},
        )

    # the deployment
    def meta(self) -> Meta:
        """Where webhooks come from (``egress_cidrs``), for allow-lists (no key needed)."""
        return self.one(Meta, "GET", "/meta", at={})
