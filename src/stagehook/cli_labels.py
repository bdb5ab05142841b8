"""``stagehook import`` and ``stagehook export``: the labeling commands that talk to a server."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import httpx
import typer

from stagehook.client import Client

Url = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="STAGEHOOK_URL",
        help="the stagehook server's base URL (default: the one `stagehook url` prints)",
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="STAGEHOOK_API_KEY",
        help="an API key, shk_... (default: the data dir's admin key, as `stagehook key`)",
    ),
]


def _client(url: str | None, api_key: str | None) -> Client:
    """The given server and key, else the server running on this data dir and its key."""
    from stagehook.connection import NotConfigured, base_url
    from stagehook.connection import api_key as local_key

    try:
        return Client(url or base_url(), api_key or local_key(), timeout=300)
    except NotConfigured as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


@contextlib.contextmanager
def _api_errors() -> Iterator[None]:
    """The server's refusal as one line on stderr and exit 1, not a traceback."""
    from stagehook.client import ApiError

    try:
        yield
    except ApiError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    except httpx.HTTPError as exc:
        typer.echo(f"error: cannot reach the server: {exc}", err=True)
        raise typer.Exit(1) from exc


def import_images(
    folder: Annotated[
        Path, typer.Argument(exists=True, file_okay=False, help="folder of images (recursive)")
    ],
    dataset: Annotated[str, typer.Option("--dataset", help="the dataset_hash to add them to")],
    api_key: ApiKey = None,
    url: Url = None,
    jobs: Annotated[int, typer.Option("--jobs", min=1, max=32, help="uploads at once")] = 4,
) -> None:
    """Upload a folder of PNG/JPEG/WebP/GIF images; re-running skips what is there."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from stagehook.importer import Importer

    with (
        _api_errors(),
        _client(url, api_key) as client,
        Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        ) as bar,
    ):
        task = bar.add_task("importing", total=None)
        result = Importer(client, dataset, folder).run(
            jobs=jobs, progress=lambda done, total: bar.update(task, completed=done, total=total)
        )
    typer.echo(f"uploaded {result.uploaded}, skipped {result.skipped} already in the dataset")
    for name, reason in result.failed:
        typer.echo(f"failed: {name}: {reason}", err=True)
    if result.failed:
        raise typer.Exit(1)


def export_labels(
    project: Annotated[str, typer.Argument(help="the project_hash")],
    api_key: ApiKey = None,
    url: Url = None,
    format: Annotated[str, typer.Option("--format", help="encord or coco")] = "encord",
    stage_uuid: Annotated[str | None, typer.Option("--stage", help="only this stage")] = None,
    status: Annotated[str | None, typer.Option("--status", help="only this task status")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write (default: stdout)")
    ] = None,
) -> None:
    """Stream a project's labels as Encord label rows or COCO to a file or stdout."""

    with _api_errors(), _client(url, api_key) as client:
        chunks = client.export(project, format, stage_uuid=stage_uuid, status=status)
        if output is None:
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        partial = output.with_name(output.name + ".partial")
        try:
            with partial.open("wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(output)
        typer.echo(f"wrote {output}", err=True)
