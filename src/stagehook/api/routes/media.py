"""Images: multipart uploads into a dataset, and their bytes served to the browser."""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from starlette.requests import ClientDisconnect

from stagehook.api.deps import KeyOrSession, StoreDep
from stagehook.api.errors import error_responses
from stagehook.api.openapi import DocumentedRoute
from stagehook.api.public import UploadedUnitsPublic
from stagehook.errors import NotFound, UnsupportedMedia
from stagehook.media.inspect import image_size
from stagehook.media.sniff import sniff
from stagehook.media.storage import Blob, MediaStore
from stagehook.media.upload import receive_files
from stagehook.store import datasets
from stagehook.store.access import Principal
from stagehook.store.context import Store
from stagehook.store.media_units import readable_unit

router = APIRouter(tags=["media"], route_class=DocumentedRoute)


def media_store(store: Store) -> MediaStore:
    return MediaStore(store.settings.effective_media_dir)


def _checked(blobs: list[Blob]) -> list[dict[str, Any]]:
    """What each image is, from its bytes: any unsupported or broken file fails them all."""
    items = []
    for blob in blobs:
        mime = sniff(blob.head)
        if mime is None:
            raise UnsupportedMedia(
                f"{blob.filename} is not a PNG, JPEG, WebP or GIF image (judged by its bytes)"
            )
        width, height = image_size(blob.path, mime, blob.filename)
        items.append(
            {
                "title": blob.filename,
                "sha256": blob.sha256,
                "mime_type": mime,
                "size_bytes": blob.size,
                "width": width,
                "height": height,
            }
        )
    return items


def _store_units(
    store: Store, principal: Principal, dataset_hash: str, blobs: list[Blob]
) -> list[dict[str, Any]]:
    """Check the images, move them into place, then add their rows (or undo the files)."""
    media = media_store(store)
    try:
        for blob in blobs:
            blob.close()
        items = _checked(blobs)
    except BaseException:
        for blob in blobs:
            media.discard(blob)
        raise
    created = [media.keep(blob) for blob in blobs]
    try:
        return datasets.add_data_units(store, principal, dataset_hash, items)
    except BaseException:
        for blob, new in zip(blobs, created, strict=True):
            if new:
                media.path_of(blob.sha256).unlink(missing_ok=True)
        raise


@router.post(
    "/datasets/{dataset_hash}/uploads",
    status_code=201,
    response_model=UploadedUnitsPublic,
    # the multipart body is read by hand, so its errors are declared here
    responses=error_responses(413, 415, 422),
)
async def upload_images(
    dataset_hash: str, request: Request, store: StoreDep, user: KeyOrSession
) -> Any:
    """Multipart field ``files`` (one or many); streamed to disk, capped per file."""
    settings = store.settings

    def check_dataset() -> None:
        with store.db.read() as conn:
            datasets.require_dataset(conn, user, dataset_hash)

    # A refusal before the body is read is fine: the server discards what still arrives.
    await to_thread.run_sync(check_dataset)
    try:
        blobs = await receive_files(
            request.headers.get("content-type", ""),
            request.stream(),
            media_store(store),
            max_bytes=settings.max_upload_bytes,
            max_files=settings.max_upload_files,
        )
    except ClientDisconnect:
        return Response(status_code=400)  # nobody is listening; the temp files are gone
    units = await to_thread.run_sync(_store_units, store, user, dataset_hash, blobs)
    return {"data_units": units}


@router.get(
    "/data-units/{data_hash}/content",
    response_class=Response,
    responses={
        200: {
            "description": "The image bytes, typed by what they are",
            "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
        },
        304: {"description": "Not modified: the ETag sent in If-None-Match still holds"},
        **error_responses(415),
        307: {"description": "A data unit added by URI: its image is at that address"},
    },
)
def data_unit_content(
    data_hash: str, request: Request, store: StoreDep, user: KeyOrSession
) -> Response:
    """The image bytes (ETag, Range); a unit added by URI redirects the browser there."""
    unit = readable_unit(store, user, data_hash)
    if unit.sha256 is None:
        if unit.uri is None:
            # Nothing to serve is a missing resource (415 is about a request's body).
            raise NotFound(f"data unit {data_hash} has no image: no upload and no uri")
        return RedirectResponse(unit.uri, status_code=307)
    etag = f'"{unit.sha256}"'
    headers = {"etag": etag, "cache-control": "private, max-age=31536000, immutable"}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    path = media_store(store).path_of(unit.sha256)
    return FileResponse(path, media_type=unit.mime_type, headers=headers)
