"""Webhook signing secrets are encrypted at rest, with a key kept outside the database.

A database dump or backup alone then cannot sign events. The key (Fernet: AES-128-CBC
plus HMAC-SHA256, from the ``cryptography`` package) comes from
``STAGEHOOK_SECRET_KEY`` (several hosts share it) or from ``<data_dir>/secret-key``,
generated with mode 0600 on first start. Either may list several keys, comma- or
line-separated: the first encrypts, all decrypt, which is how a key is rotated
(``stagehook rekey``). Stored values look like ``enc1:<token>``; rows written before
encryption existed (``whsec_...``) are read as they are and encrypted at start-up.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select, update

from stagehook.config import Settings
from stagehook.errors import StagehookError
from stagehook.store.context import Store
from stagehook.store.tables import webhooks

PREFIX = "enc1:"
KEY_FILE = "secret-key"


class SecretKeyMismatch(StagehookError):
    """Stored secrets were encrypted under a key this process does not have."""

    code = "secret_key_mismatch"
    status = 503


def _parse(text: str) -> list[bytes]:
    keys = [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]
    for key in keys:
        try:
            Fernet(key)
        except ValueError as exc:
            raise ValueError(
                "a secret key must be 32 url-safe base64-encoded bytes "
                "(make one with: stagehook rekey --print-new-key)"
            ) from exc
    return [k.encode() for k in keys]


def write_key_file(path: Path, keys: list[bytes]) -> None:
    """Replace the key file atomically, mode 0600 from the first byte."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("".join(k.decode() + "\n" for k in keys))
    os.replace(tmp, path)


#: Decrypted secrets remembered per box (the dispatcher opens one per delivery it sends).
OPENED_LIMIT = 1024


class SecretBox:
    """Encrypts and decrypts secrets; re-reads a key file that changed (``rekey``).

    Opening is remembered per stored value (a Fernet token decrypts to one plaintext
    under any key that can read it), so signing a delivery costs a dictionary lookup
    instead of an AES decrypt and an HMAC check. The memory is bounded and forgotten
    whenever the keys are re-read.
    """

    def __init__(self, settings: Settings) -> None:
        self._configured = settings.secret_key
        self._path = Path(settings.data_dir) / KEY_FILE
        self._stamp: float | None = None
        self._fernet = MultiFernet([Fernet(k) for k in self._load()])
        self._opened: dict[str, str] = {}

    def _load(self) -> list[bytes]:
        if self._configured:
            return _parse(self._configured)
        if not self._path.exists():
            self._path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process created it first: use theirs
                pass
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(Fernet.generate_key().decode() + "\n")
        self._stamp = self._path.stat().st_mtime
        return _parse(self._path.read_text())

    def _current(self) -> MultiFernet:
        if self._stamp is not None and self._path.stat().st_mtime != self._stamp:
            self._fernet = MultiFernet([Fernet(k) for k in self._load()])
            self._opened.clear()
        return self._fernet

    def seal(self, secret: str) -> str:
        return PREFIX + self._current().encrypt(secret.encode()).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # written before encryption at rest; encrypted at start-up
        fernet = self._current()  # first: a changed key file forgets what was opened
        known = self._opened.get(stored)
        if known is not None:
            return known
        try:
            secret = fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise SecretKeyMismatch(
                "a webhook signing secret cannot be decrypted with the configured secret "
                "key; start with the key it was encrypted under (STAGEHOOK_SECRET_KEY or "
                "the data directory's secret-key file)"
            ) from exc
        if len(self._opened) >= OPENED_LIMIT:
            self._opened.clear()
        self._opened[stored] = secret
        return secret

    def reseal(self, stored: str) -> str:
        """``stored`` encrypted under the first key (plaintext rows get encrypted)."""
        return self.seal(self.open(stored))


_boxes: dict[tuple[str, str | None], SecretBox] = {}


def secret_box(settings: Settings) -> SecretBox:
    """One box per key source in this process (the key file is read once, and on change)."""
    source = (str(settings.data_dir), settings.secret_key)
    box = _boxes.get(source)
    if box is None:
        box = _boxes[source] = SecretBox(settings)
    return box


def reseal_all(store: Store, box: SecretBox) -> int:
    """(Re-)encrypt every stored secret under ``box``'s first key; returns rows changed.

    Each row is updated only if it still holds what was read, so running this while
    servers write new secrets (or from several processes) loses nothing.
    """
    changed = 0
    with store.db.write() as conn:
        rows = conn.execute(
            select(webhooks.c.webhook_id, webhooks.c.secret, webhooks.c.previous_secret)
        ).all()
        for row in rows:
            values = {"secret": box.reseal(row.secret)}
            if row.previous_secret:
                values["previous_secret"] = box.reseal(row.previous_secret)
            result = conn.execute(
                update(webhooks)
                .where(webhooks.c.webhook_id == row.webhook_id, webhooks.c.secret == row.secret)
                .values(**values)
            )
            changed += result.rowcount
    return changed


def seal_plaintext(store: Store) -> int:
    """At start-up: encrypt rows written before secrets were encrypted at rest."""
    box = secret_box(store.settings)
    with store.db.read() as conn:
        plain = conn.execute(
            select(webhooks.c.webhook_id).where(
                (~webhooks.c.secret.startswith(PREFIX))
                | (
                    webhooks.c.previous_secret.is_not(None)
                    & ~webhooks.c.previous_secret.startswith(PREFIX)
                )
            )
        ).first()
    return reseal_all(store, box) if plain is not None else 0


def rekey(store: Store) -> int:
    """Re-encrypt every secret under a new key; returns how many rows changed.

    With ``STAGEHOOK_SECRET_KEY``, the new key is the first one listed there (put it in
    front on every host, run this, then drop the old ones). With the key file, a new key
    is generated: the file briefly lists new and old (running servers re-read it and can
    read both), every row is re-encrypted, then the file keeps only the new key.
    """
    settings = store.settings
    if settings.secret_key:
        return reseal_all(store, SecretBox(settings))
    path = Path(settings.data_dir) / KEY_FILE
    old = SecretBox(settings)._load()
    new = Fernet.generate_key()
    write_key_file(path, [new, *old])
    changed = reseal_all(store, SecretBox(settings))
    write_key_file(path, [new])
    return changed
