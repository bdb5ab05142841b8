"""Image uploads and their content over real HTTP, on both backends, with real image files."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from stagehook.client import ApiError
from stagehook.store.context import Store
from stagehook.store.tables import data_units
from tests.support.api import Api, user_key
from tests.support.labeling import image_bytes
from tests.support.waiting import wait_until

CAP = 200_000


def unit_rows(store: Store) -> int:
    with store.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(data_units)).scalar_one())


def media_files(store: Store) -> list[Path]:
    root = store.settings.effective_media_dir
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_upload_each_format_reads_type_and_size_from_the_bytes(api: Api, store: Store) -> None:
    dataset = api.create_dataset("photos")["dataset_hash"]
    files = {
        "a.png": image_bytes("PNG", (64, 48)),
        "b.jpg": image_bytes("JPEG", (80, 60)),
        "c.webp": image_bytes("WEBP", (30, 20)),
        # The name says PNG; the bytes say GIF: the bytes win.
        "d.png": image_bytes("GIF", (10, 12)),
    }
    units = api.upload_images(dataset, list(files.items()))
    got = [(u["title"], u["mime_type"], u["width"], u["height"]) for u in units]
    assert got == [
        ("a.png", "image/png", 64, 48),
        ("b.jpg", "image/jpeg", 80, 60),
        ("c.webp", "image/webp", 30, 20),
        ("d.png", "image/gif", 10, 12),
    ]
    for unit, content in zip(units, files.values(), strict=True):
        assert unit["sha256"] == hashlib.sha256(content).hexdigest()
        response = api.raw("GET", f"/data-units/{unit['data_hash']}/content")
        assert response.status_code == 200 and response.content == content
        assert response.headers["content-type"] == unit["mime_type"]
    found = list(api.iter_data_units(dataset, sha256=units[1]["sha256"]))
    assert [u["data_hash"] for u in found] == [units[1]["data_hash"]]
    assert not media_files(store)[0].is_relative_to(store.settings.effective_media_dir / "tmp")


def test_content_etag_304_and_range(api: Api) -> None:
    dataset = api.create_dataset("photos")["dataset_hash"]
    content = image_bytes("PNG", (120, 90), seed=3)
    unit = api.upload_images(dataset, [("x.png", content)])[0]
    path = f"/data-units/{unit['data_hash']}/content"
    first = api.raw("GET", path)
    etag = first.headers["etag"]
    assert etag == f'"{unit["sha256"]}"'
    assert api.raw("GET", path, headers={"if-none-match": etag}).status_code == 304
    part = api.raw("GET", path, headers={"range": "bytes=8-15"})
    assert part.status_code == 206 and part.content == content[8:16]
    assert part.headers["content-range"] == f"bytes 8-15/{len(content)}"


def test_content_is_authorized_like_the_project(api: Api) -> None:
    dataset = api.create_dataset("photos")["dataset_hash"]
    unit = api.upload_images(dataset, [("x.png", image_bytes())])[0]
    _, key = user_key(api, "eve")
    with api.as_key(key) as outsider:
        response = outsider.raw("GET", f"/data-units/{unit['data_hash']}/content")
        assert response.status_code == 404
    assert (
        api.raw(
            "GET", f"/data-units/{unit['data_hash']}/content", headers={"authorization": ""}
        ).status_code
        == 401
    )


@pytest.mark.parametrize(
    ("name", "content", "status", "needle"),
    [
        ("notes.png", b"just some text, not an image\n" * 10, 415, "notes.png is not a PNG"),
        ("cut.png", image_bytes("PNG", (300, 200), seed=9)[:-200], 422, "cut.png"),
    ],
)
def test_bad_images_leave_nothing(
    api: Api, store: Store, name: str, content: bytes, status: int, needle: str
) -> None:
    dataset = api.create_dataset("photos")["dataset_hash"]
    with pytest.raises(ApiError) as err:
        api.upload_images(dataset, [("fine.png", image_bytes()), (name, content)])
    assert err.value.status == status and needle in err.value.message
    assert unit_rows(store) == 0 and media_files(store) == []


@pytest.mark.settings(max_upload_bytes=CAP)
def test_over_the_cap_is_413_and_leaves_no_row_and_no_file(api: Api, store: Store) -> None:
    dataset = api.create_dataset("photos")["dataset_hash"]
    # 5 MiB against a 200 kB cap: refused as it streams, the rest dropped unread.
    big = b"\x89PNG\r\n\x1a\n" + bytes(5 * 1024 * 1024)
    with pytest.raises(ApiError) as err:
        api.upload_images(dataset, [("ok.png", image_bytes()), ("big.png", big)])
    assert err.value.status == 413 and f"{CAP} bytes" in err.value.message
    assert unit_rows(store) == 0 and media_files(store) == []
    # The biggest temp file ever written is bounded by the cap, not by the body.
    assert api.upload_images(dataset, [("ok.png", image_bytes())])[0]["width"] == 64


def _half_upload(base_url: str, dataset: str, key: str, sent: bytes, total: int) -> socket.socket:
    url = urlsplit(base_url)
    sock = socket.create_connection((url.hostname, url.port))
    head = (
        f"POST /api/v1/datasets/{dataset}/uploads HTTP/1.1\r\n"
        f"host: {url.netloc}\r\nauthorization: Bearer {key}\r\n"
        "content-type: multipart/form-data; boundary=xyz\r\n"
        f"content-length: {total}\r\n\r\n"
    )
    sock.sendall(head.encode() + sent)
    return sock


def test_upload_dying_halfway_leaves_nothing(
    api: Api, store: Store, server: tuple[str, Any]
) -> None:
    dataset = api.create_dataset("photos")["dataset_hash"]
    part = (
        b'--xyz\r\ncontent-disposition: form-data; name="files"; filename="a.png"\r\n'
        b"content-type: image/png\r\n\r\n" + image_bytes("PNG", (400, 400), seed=1) * 20
    )
    sock = _half_upload(server[0], dataset, "shk_test_admin_key", part, len(part) * 2)
    tmp = store.settings.effective_media_dir / "tmp"
    # The server is writing the file: a temp file exists while the body is incomplete.
    wait_until(lambda: tmp.exists() and any(tmp.iterdir()), timeout=10)
    sock.close()
    wait_until(lambda: not any(tmp.iterdir()), timeout=10)
    assert unit_rows(store) == 0 and media_files(store) == []


def test_unknown_dataset_is_404_even_for_a_large_upload(api: Api, store: Store) -> None:
    big = b"\x89PNG\r\n\x1a\n" + os.urandom(3 * 1024 * 1024)
    with pytest.raises(ApiError) as err:
        api.upload_images("nope", [("a.png", big)])
    assert err.value.status == 404 and "dataset nope" in err.value.message
    assert unit_rows(store) == 0 and media_files(store) == []


def test_body_ending_inside_a_file_is_refused(api: Api, store: Store) -> None:
    dataset = api.create_dataset("photos")["dataset_hash"]
    content = image_bytes()
    body = (
        b'--xyz\r\ncontent-disposition: form-data; name="files"; filename="a.png"\r\n\r\n' + content
    )
    response = api.raw(
        "POST",
        f"/datasets/{dataset}/uploads",
        content=body,
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert response.status_code == 422 and "ended inside a file" in response.text
    assert unit_rows(store) == 0 and media_files(store) == []
