"""The ``stagehook`` command: serve, worker, migrate and friends."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from stagehook.config import Settings

app = typer.Typer(
    help="stagehook: annotation workflows whose stages fire webhooks.", no_args_is_help=True
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="where the SQLite database and key file live",
        envvar="STAGEHOOK_DATA_DIR",
    ),
]


#: uvloop and httptools: 1.5x the requests per second of asyncio + h11 (docs/benchmarks.md).
LOOP = "asyncio" if sys.platform == "win32" else "uvloop"


def _settings(data_dir: Path | None) -> Settings:
    return Settings(data_dir=data_dir) if data_dir else Settings()


class _GracefulServer(uvicorn.Server):
    """Stop on SIGTERM/SIGINT after the dispatcher drained, and exit 0.

    (uvicorn re-raises the signal after its shutdown, which ends the process with -15.)
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.handle_exit)
        yield


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    data_dir: DataDir = None,
    dispatcher: Annotated[
        bool,
        typer.Option(
            "--dispatcher/--no-dispatcher",
            help="deliver webhooks in this process (turn off when separate workers deliver)",
        ),
    ] = True,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="API processes sharing the port (PostgreSQL only)",
        ),
    ] = 1,
) -> None:
    """Run the API, the web UI and the delivery dispatcher.

    On PostgreSQL with several cores the dispatcher runs as a ``stagehook worker`` child
    (its own interpreter, woken by NOTIFY); otherwise in this process.
    """
    from stagehook.server import build_server_app
    from stagehook.worker import separate_by_default, worker_beside

    settings = _settings(data_dir)
    child = dispatcher and separate_by_default(settings)
    embedded = dispatcher and not child
    if workers > 1:
        with worker_beside(settings) if child else contextlib.nullcontext():
            _serve_workers(settings, host, port, workers, embedded)
        return
    application = build_server_app(settings, embedded_dispatcher=embedded)
    config = uvicorn.Config(
        application, host=host, port=port, log_level="info", loop=LOOP, http="httptools"
    )
    with worker_beside(settings) if child else contextlib.nullcontext():
        _GracefulServer(config).run()


def _serve_workers(
    settings: Settings, host: str, port: int, workers: int, dispatcher: bool
) -> None:
    """uvicorn's process manager: N processes accept on one socket."""
    from uvicorn.supervisors import Multiprocess

    if settings.effective_database_url.startswith("sqlite"):
        raise typer.BadParameter(
            "several API processes need PostgreSQL (STAGEHOOK_DATABASE_URL): SQLite has one "
            "writer, so more processes only wait on each other",
            param_hint="--workers",
        )
    os.environ["STAGEHOOK_DATA_DIR"] = str(settings.data_dir)
    target = "app_with_dispatcher" if dispatcher else "app_without_dispatcher"
    config = uvicorn.Config(
        f"stagehook.server:{target}",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="info",
        loop=LOOP,
        http="httptools",
    )
    Multiprocess(config, sockets=[config.bind_socket()]).run()


@app.command()
def worker(
    data_dir: DataDir = None,
    worker_id: Annotated[
        str | None, typer.Option("--id", help="a stable name for this worker in logs")
    ] = None,
) -> None:
    """Run a delivery worker on its own (scale out: many workers, one database)."""
    from stagehook.worker import run_worker

    run_worker(_settings(data_dir), worker_id)


@app.command()
def listen(
    secret: Annotated[
        list[str],
        typer.Option("--secret", help="the webhook's signing secret (repeat for several)"),
    ],
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 9000,
) -> None:
    """Receive webhooks locally: verify each signature and print the event."""
    import uvicorn
    from rich.console import Console

    from stagehook.events import TaskCompletedEvent, TaskSubmittedEvent
    from stagehook.receiver import webhook_app

    console = Console()

    def show(event: TaskSubmittedEvent | TaskCompletedEvent) -> None:
        console.print(
            f"[bold]{event.event_type}[/bold] uid={event.uid} "
            f"at {event.event_created_timestamp.isoformat()}"
        )
        console.print_json(event.payload.model_dump_json())

    console.print(f"listening on http://{host}:{port}/ (signatures verified)")
    uvicorn.run(webhook_app(secret, show), host=host, port=port, log_level="warning")


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Apply database migrations (safe to run from several hosts at once)."""
    from stagehook.runtime import open_store

    store = open_store(_settings(data_dir))
    store.db.dispose()
    typer.echo("migrations applied")


if __name__ == "__main__":  # pragma: no cover
    app()
