"""What we sign must verify with the reference Standard Webhooks implementation."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from stagehook.delivery.signing import build_headers, signature_header
from stagehook.webhook_secret import generate_secret

BODY = b'{"uid":"4f1c","version":1,"payload":{"x":"\\u00e9"}}'


def test_generated_secrets_are_whsec_24_bytes_and_unique() -> None:
    secrets = {generate_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24
        Webhook(secret)


def test_headers_verify_with_standardwebhooks() -> None:
    secret = generate_secret()
    now = datetime.now(UTC)
    headers = build_headers([secret], "msg_1", now, BODY, "stagehook/0.1")
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "stagehook/0.1"
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert Webhook(secret).verify(BODY, headers) == {
        "uid": "4f1c",
        "version": 1,
        "payload": {"x": "é"},
    }


def test_a_different_secret_or_body_does_not_verify() -> None:
    headers = build_headers([generate_secret()], "msg_1", datetime.now(UTC), BODY, "ua")
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY + b" ", headers)


def test_rotation_sends_one_signature_per_secret_and_each_verifies() -> None:
    old, new = generate_secret(), generate_secret()
    headers = build_headers([old, new], "msg_2", datetime.now(UTC), BODY, "ua")
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(sig.startswith("v1,") for sig in signatures)
    for secret in (old, new):
        Webhook(secret).verify(BODY, headers)


def test_non_utc_timestamps_sign_the_same_instant() -> None:
    secret = generate_secret()
    moment = datetime.now(UTC)
    elsewhere = moment.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert signature_header([secret], "m", moment, BODY) == signature_header(
        [secret], "m", elsewhere, BODY
    )
    Webhook(secret).verify(BODY, build_headers([secret], "m", elsewhere, BODY, "ua"))


def test_naive_timestamps_and_missing_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        signature_header([generate_secret()], "m", datetime.now(), BODY)
    with pytest.raises(ValueError, match="at least one"):
        signature_header([], "m", datetime.now(UTC), BODY)


def test_signature_is_bound_to_message_id_and_timestamp() -> None:
    secret = generate_secret()
    moment = datetime.now(UTC)
    base = signature_header([secret], "a", moment, BODY)
    assert base != signature_header([secret], "b", moment, BODY)
    assert base != signature_header([secret], "a", moment - timedelta(seconds=1), BODY)
