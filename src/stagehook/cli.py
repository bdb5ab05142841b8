"""The ``stagehook`` command: serve, worker, migrate and friends."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from stagehook import cli_labels
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


def _settings(data_dir: Path | None) -> Settings:
    return Settings(data_dir=data_dir) if data_dir else Settings()


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="address to listen on", envvar="STAGEHOOK_HOST")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="port to listen on (0: any free port)", envvar="STAGEHOOK_PORT")
    ] = 8000,
    data_dir: DataDir = None,
    dispatcher: Annotated[
        bool,
        typer.Option(
            "--dispatcher/--no-dispatcher",
            help="deliver webhooks (turn off when separate workers deliver)",
        ),
    ] = True,
    workers: Annotated[
        int, typer.Option(min=1, help="API processes sharing the port (PostgreSQL only)")
    ] = 1,
) -> None:
    """Run the API, the web UI and the delivery dispatcher.

    With several cores the dispatcher runs as a ``stagehook worker`` child (its own
    interpreter, woken by NOTIFY on PostgreSQL, by the wake board on SQLite); on one core
    in this process.
    """
    from stagehook import serving
    from stagehook.connection import public_url, remove_server_file, write_server_file
    from stagehook.server import build_server_app
    from stagehook.worker import separate_by_default, worker_beside

    settings = _settings(data_dir)
    child = dispatcher and separate_by_default(settings)
    embedded = dispatcher and not child
    if workers > 1 and settings.effective_database_url.startswith("sqlite"):
        raise typer.BadParameter(
            "several API processes need PostgreSQL (STAGEHOOK_DATABASE_URL): SQLite has one "
            "writer, so more processes only wait on each other",
            param_hint="--workers",
        )

    def ready(url: str) -> None:
        write_server_file(settings.data_dir, url)
        typer.echo(f"stagehook: listening on {url} (data dir {settings.data_dir})", err=True)

    try:
        if workers > 1:  # PostgreSQL: its migrations take an advisory lock
            with worker_beside(settings) if child else contextlib.nullcontext():
                ready(public_url(host, port))
                serving.run_processes(settings, host, port, workers, dispatcher=embedded)
        else:
            # migrated before the worker child starts (SQLite's migrations take no lock)
            application = build_server_app(settings, embedded_dispatcher=embedded)
            with worker_beside(settings) if child else contextlib.nullcontext():
                # Forwarded headers are believed only from STAGEHOOK_TRUSTED_PROXIES.
                serving.run(application, host, port, ready, log_level="info", proxy_headers=False)
    finally:
        remove_server_file(settings.data_dir)


@app.command()
def url(
    data_dir: DataDir = None,
    api: Annotated[bool, typer.Option("--api", help="print the REST API's base URL")] = False,
) -> None:
    """Print the URL of the server running on this data dir (or $STAGEHOOK_URL)."""
    from stagehook.connection import NotConfigured, base_url

    try:
        found = base_url(_settings(data_dir))
    except NotConfigured as error:
        typer.echo(f"stagehook: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(found + "/api/v1" if api else found)


@app.command()
def key(data_dir: DataDir = None) -> None:
    """Print the admin API key of this data dir (or $STAGEHOOK_API_KEY)."""
    from stagehook.connection import NotConfigured, api_key

    try:
        typer.echo(api_key(_settings(data_dir)))
    except NotConfigured as error:
        typer.echo(f"stagehook: {error}", err=True)
        raise typer.Exit(1) from None


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
    from rich.console import Console

    from stagehook import serving
    from stagehook.events import TaskCompletedEvent, TaskSubmittedEvent
    from stagehook.receiver import webhook_app

    # Never wrap: a line piped to a file or a log collector stays one line.
    console = Console(soft_wrap=True)

    def show(event: TaskSubmittedEvent | TaskCompletedEvent) -> None:
        console.print(
            f"[bold]{event.event_type}[/bold] uid={event.uid} "
            f"at {event.event_created_timestamp.isoformat()}"
        )
        console.print_json(event.payload.model_dump_json())

    def ready(url: str) -> None:
        console.print(f"listening on {url}/ (signatures verified)")

    serving.run(webhook_app(secret, show), host, port, ready, log_level="warning")


@app.command()
def demo(
    data_dir: DataDir = None,
    stay: Annotated[
        bool | None,
        typer.Option(
            "--stay/--no-stay",
            help="keep the server it started running afterwards (default: on a terminal)",
        ),
    ] = None,
) -> None:
    """Sample project, webhooks to a built-in verifying listener, one task to Complete."""
    from rich.console import Console

    from stagehook.demo import run

    raise typer.Exit(run(_settings(data_dir), Console(soft_wrap=True), stay=stay))


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Apply database migrations (safe to run from several hosts at once)."""
    from stagehook.runtime import open_store

    store = open_store(_settings(data_dir))
    store.db.dispose()
    typer.echo("migrations applied")


app.command("import")(cli_labels.import_images)
app.command("export")(cli_labels.export_labels)


@app.command()
def rekey(
    data_dir: DataDir = None,
    print_new_key: Annotated[
        bool, typer.Option("--print-new-key", help="only print a fresh key for the setting")
    ] = False,
) -> None:
    """Re-encrypt the webhook signing secrets under a new secret key."""
    from cryptography.fernet import Fernet

    if print_new_key:
        typer.echo(Fernet.generate_key().decode())
        return
    from stagehook.runtime import open_store
    from stagehook.store.secret_box import rekey as rekey_secrets

    store = open_store(_settings(data_dir))
    try:
        changed = rekey_secrets(store)
    finally:
        store.db.dispose()
    typer.echo(f"re-encrypted {changed} webhook secret(s) under the new key")


if __name__ == "__main__":  # pragma: no cover
    app()
