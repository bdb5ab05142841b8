"""How clients find the server: the URL a bind gives, env over files, clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stagehook.config import Settings
from stagehook.connection import (
    KEY_FILE,
    SERVER_FILE,
    NotConfigured,
    api_key,
    base_url,
    public_url,
    remove_server_file,
    write_server_file,
)


@pytest.fixture(autouse=True)
def no_client_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STAGEHOOK_URL", "STAGEHOOK_API_KEY", "STAGEHOOK_BOOTSTRAP_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("0.0.0.0", "http://127.0.0.1:8000"),
        ("::", "http://[::1]:8000"),
        ("::1", "http://[::1]:8000"),
        ("example.internal", "http://example.internal:8000"),
    ],
)
def test_a_bind_address_becomes_a_url_a_local_client_can_use(host: str, url: str) -> None:
    assert public_url(host, 8000) == url


def test_the_server_file_names_the_url_until_its_server_stops(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with pytest.raises(NotConfigured, match="no stagehook server is running"):
        base_url(settings)
    write_server_file(tmp_path, "http://127.0.0.1:41234")
    assert base_url(settings) == "http://127.0.0.1:41234"
    remove_server_file(tmp_path)
    assert not (tmp_path / SERVER_FILE).exists()


def test_a_file_left_by_a_dead_server_is_not_believed(tmp_path: Path) -> None:
    dead = 2**22 + 12345  # above the default pid_max: no such process
    (tmp_path / SERVER_FILE).write_text(json.dumps({"url": "http://127.0.0.1:1", "pid": dead}))
    with pytest.raises(NotConfigured, match="no longer running"):
        base_url(Settings(data_dir=tmp_path))


def test_environment_wins_over_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_server_file(tmp_path, "http://127.0.0.1:41234")
    (tmp_path / KEY_FILE).write_text("shk_from_file\n")
    settings = Settings(data_dir=tmp_path)
    assert api_key(settings) == "shk_from_file"
    monkeypatch.setenv("STAGEHOOK_URL", "https://stagehook.example.com/")
    monkeypatch.setenv("STAGEHOOK_API_KEY", "shk_from_env")
    assert base_url(settings) == "https://stagehook.example.com"
    assert api_key(settings) == "shk_from_env"


def test_a_missing_key_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(NotConfigured, match=str(tmp_path / KEY_FILE)):
        api_key(Settings(data_dir=tmp_path))
    assert api_key(Settings(data_dir=tmp_path, bootstrap_api_key="shk_chosen")) == "shk_chosen"
