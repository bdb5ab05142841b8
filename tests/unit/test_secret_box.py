"""The secret box remembers what it opened, and forgets it when the keys change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from stagehook.config import Settings
from stagehook.store.secret_box import (
    KEY_FILE,
    OPENED_LIMIT,
    SecretBox,
    SecretKeyMismatch,
    write_key_file,
)


def test_a_remembered_secret_is_forgotten_when_the_key_file_drops_its_key(
    tmp_path: Path,
) -> None:
    box = SecretBox(Settings(data_dir=tmp_path))
    stored = box.seal("whsec_one")
    assert box.open(stored) == box.open(stored) == "whsec_one"
    key_file = tmp_path / KEY_FILE
    write_key_file(key_file, [Fernet.generate_key()])
    stamp = key_file.stat().st_mtime_ns + 1_000_000_000
    os.utime(key_file, ns=(stamp, stamp))  # a changed file, whatever the clock's grain
    with pytest.raises(SecretKeyMismatch):
        box.open(stored)


def test_many_secrets_open_correctly_past_the_memory_bound(tmp_path: Path) -> None:
    box = SecretBox(Settings(data_dir=tmp_path))
    sealed = {box.seal(f"whsec_{n}"): f"whsec_{n}" for n in range(OPENED_LIMIT + 10)}
    for _ in range(2):
        assert {stored: box.open(stored) for stored in sealed} == sealed
