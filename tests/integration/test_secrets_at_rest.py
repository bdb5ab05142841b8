"""Signing secrets are encrypted in the database; the key lives outside it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update
from standardwebhooks import Webhook

from stagehook.config import Settings
from stagehook.server import build_server_app
from stagehook.store.context import Store
from stagehook.store.secret_box import KEY_FILE, SecretBox, SecretKeyMismatch, rekey
from stagehook.store.tables import webhooks
from tests.support.api import ADMIN_KEY, Api
from tests.support.deliveries import project_with_hook, submit, wait_status
from tests.support.receiver import Receiver
from tests.support.server import serve_app
from tests.support.workflows import ANNOTATE


def stored_secrets(store: Store) -> list[tuple[str, str | None]]:
    with store.db.read() as conn:
        rows = conn.execute(select(webhooks.c.secret, webhooks.c.previous_secret)).all()
    return [(r.secret, r.previous_secret) for r in rows]


def test_secrets_are_stored_encrypted_and_still_sign(api: Api, store: Store) -> None:
    with Receiver() as receiver:
        project_hash, tasks, secret = project_with_hook(api, receiver.url("/h"))
        [(stored, _)] = stored_secrets(store)
        assert stored.startswith("enc1:") and secret not in stored
        hook = f"/projects/{project_hash}/workflow/stages/{ANNOTATE}/webhook"
        rotated = api.request("POST", hook + "/rotate-secret")["signing_secret"]
        [(current, previous)] = stored_secrets(store)
        assert current.startswith("enc1:") and previous == stored
        submit(api, project_hash, tasks)
        got = receiver.wait_for(1, "/h")[0]
        for each in (secret, rotated):  # signed with both during the rotation grace
            Webhook(each).verify(got.body, dict(got.headers))
    # The database alone cannot sign: another key cannot open what it holds.
    other = Settings(data_dir=store.settings.data_dir / "elsewhere")
    with pytest.raises(SecretKeyMismatch) as err:
        SecretBox(other).open(current)
    assert secret not in err.value.message and rotated not in err.value.message


def test_plaintext_rows_are_encrypted_at_start_and_their_events_delivered(
    settings: Settings,
) -> None:
    """A database from before encryption: its pending events still go out, signed."""
    quiet = build_server_app(settings, embedded_dispatcher=False)
    store: Store = quiet.state.store
    with Receiver() as receiver:
        with serve_app(quiet) as base, Api(base, ADMIN_KEY) as api:
            project_hash, tasks, secret = project_with_hook(api, receiver.url("/h"))
            submit(api, project_hash, tasks)  # no dispatcher: the delivery waits
        with store.db.write() as conn:  # what 0001 left behind: the secret in clear
            conn.execute(update(webhooks).values(secret=secret))
        store.db.dispose()

        app = build_server_app(settings, embedded_dispatcher=True)
        [(stored, _)] = stored_secrets(app.state.store)
        assert stored.startswith("enc1:")
        with serve_app(app) as base, Api(base, ADMIN_KEY) as api:
            got = receiver.wait_for(1, "/h")[0]
            Webhook(secret).verify(got.body, dict(got.headers))
            wait_status(api, project_hash, "delivered")
        app.state.store.db.dispose()


def test_rekey_re_encrypts_under_a_new_key(api: Api, store: Store) -> None:
    with Receiver() as receiver:
        project_hash, tasks, secret = project_with_hook(api, receiver.url("/h"))
        key_file = Path(store.settings.data_dir) / KEY_FILE
        old_key = key_file.read_text()
        [(before, _)] = stored_secrets(store)
        assert rekey(store) == 1
        [(after, _)] = stored_secrets(store)
        assert after != before and key_file.read_text() != old_key
        assert len(key_file.read_text().split()) == 1  # the old key is gone
        assert key_file.stat().st_mode & 0o777 == 0o600
        # the running server picks the new key up and still signs with the same secret
        submit(api, project_hash, tasks)
        Webhook(secret).verify(*_body_and_headers(receiver))
        hook = f"/projects/{project_hash}/workflow/stages/{ANNOTATE}/webhook"
        assert api.request("GET", hook)["signing_secret"] == secret


def _body_and_headers(receiver: Receiver) -> tuple[bytes, dict[str, str]]:
    got = receiver.wait_for(1, "/h")[0]
    return got.body, dict(got.headers)
