"""``stagehook demo``: the whole story in one command, checked end to end.

A sample ontology, a dataset of generated images, a project whose Annotate and Complete
stages notify a built-in listener that verifies every signature; one task labeled,
submitted and approved. Success means both events arrived verified, nothing less.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from PIL import Image, ImageDraw
from rich.console import Console

from stagehook import serving
from stagehook.client import ApiError, Client
from stagehook.client.models import Delivery
from stagehook.config import Settings
from stagehook.connection import (
    NotConfigured,
    api_key,
    base_url,
    remove_server_file,
    write_server_file,
)
from stagehook.events import TaskCompletedEvent, TaskSubmittedEvent
from stagehook.receiver import webhook_app
from stagehook.receiver.asgi import ASGIApp, Receive, Scope, Send

LOOPBACK = "127.0.0.0/8"
WAIT_SECONDS = 30.0
START, ANNOTATE, REVIEW, COMPLETE = "demo-start", "demo-annotate", "demo-review", "demo-complete"
Event = TaskSubmittedEvent | TaskCompletedEvent

ONTOLOGY: dict[str, Any] = {
    "objects": [
        {"name": "Cat", "color": "#D33115", "shape": "bounding_box"},
        {"name": "Ear", "color": "#16406C", "shape": "point"},
    ],
    "classifications": [
        {
            "attributes": [
                {
                    "name": "Lighting",
                    "type": "radio",
                    "required": False,
                    "options": [{"label": "Day"}, {"label": "Night"}],
                }
            ]
        }
    ],
}


LOOPBACK_HINT = (
    f"Start the server with STAGEHOOK_ALLOWED_TARGET_NETWORKS={LOOPBACK}, or run the demo on "
    "an empty data dir (--data-dir) so it starts its own."
)


class DemoFailed(Exception):
    """What went wrong and what to do about it."""


def workflow(listener: str) -> dict[str, Any]:
    def stage(uuid: str, title: str, kind: str, *pathways: tuple[str, str]) -> dict[str, Any]:
        return {
            "uuid": uuid,
            "title": title,
            "stage_type": kind,
            "pathways": [{"name": n, "destination_uuid": d} for n, d in pathways],
        }

    annotate = stage(ANNOTATE, "Annotate", "ANNOTATE", ("submit", REVIEW))
    annotate["webhook"] = {"url": f"{listener}/annotate"}
    complete = stage(COMPLETE, "Complete", "COMPLETE")
    complete["webhook"] = {"url": f"{listener}/complete"}
    review = stage(REVIEW, "Review", "REVIEW", ("approve", COMPLETE), ("reject", ANNOTATE))
    return {
        "stages": [stage(START, "Start", "START", ("next", ANNOTATE)), annotate, review, complete]
    }


def sample_images(count: int = 3) -> list[tuple[str, bytes]]:
    """Small PNGs, each a different "cat" (a face of circles) on its own background."""
    images = []
    for i in range(count):
        image = Image.new("RGB", (320, 240), (70 + 50 * i, 130, 180 - 40 * i))
        draw = ImageDraw.Draw(image)
        x = 80 + 40 * i
        draw.ellipse((x, 70, x + 120, 190), fill=(240, 200, 120))
        draw.polygon([(x + 10, 95), (x + 25, 40), (x + 50, 80)], fill=(240, 200, 120))
        draw.polygon([(x + 70, 80), (x + 95, 40), (x + 110, 95)], fill=(240, 200, 120))
        draw.ellipse((x + 35, 110, x + 50, 125), fill=(30, 30, 30))
        draw.ellipse((x + 70, 110, x + 85, 125), fill=(30, 30, 30))
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        images.append((f"cat-{i + 1:03d}.png", buffer.getvalue()))
    return images


class Listener:
    """The built-in receiver: verifies signatures once the secrets are known."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._arrived = threading.Condition()
        self._app: ASGIApp | None = None

    def arm(self, secrets: list[str]) -> None:
        self._app = webhook_app(secrets, self._record)

    def _record(self, event: Event) -> None:
        with self._arrived:
            self.events.append(event)
            self._arrived.notify_all()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:  # nothing is expected yet: let stagehook retry
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await self._app(scope, receive, send)

    def wait(self, count: int, timeout: float) -> bool:
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.events) >= count, timeout)


@contextlib.contextmanager
def server(settings: Settings, out: Console) -> Iterator[tuple[str, bool]]:
    """The server running on this data dir, else one started here; (url, started here)."""
    with contextlib.suppress(NotConfigured):
        url = base_url(settings)
        out.print(f"using the server running at {url}")
        yield url, False
        return
    from stagehook.server import build_server_app

    networks = [*settings.allowed_target_networks, LOOPBACK]
    local = settings.model_copy(update={"allowed_target_networks": networks})
    app = build_server_app(local, embedded_dispatcher=True)
    try:
        with serving.in_thread(app) as url:
            write_server_file(settings.data_dir, url)
            out.print(f"started a server at {url} (data dir {settings.data_dir})")
            try:
                yield url, True
            finally:
                remove_server_file(settings.data_dir)
    finally:
        app.state.store.db.dispose()


def _refusals(deliveries: list[Delivery]) -> list[str]:
    return [
        a.error or "refused"
        for d in deliveries
        for a in d.attempts_log
        if a.error_class == "ssrf_refused"
    ]


def drive(sh: Client, listener: Listener, listener_url: str, out: Console) -> str:
    """Everything a team does, through the REST API; returns the project hash."""
    ontology = sh.create_ontology("Demo: cats", ONTOLOGY, description="made by stagehook demo")
    dataset = sh.create_dataset("Demo: cats")
    units = sh.upload_images(dataset.dataset_hash, sample_images())
    out.print(f"ontology {ontology.title!r}, dataset {dataset.title!r} with {len(units)} images")
    project = sh.create_project(
        "Demo: cats",
        [dataset.dataset_hash],
        workflow=workflow(listener_url),
        ontology_hash=ontology.ontology_hash,
    )
    p = project.project_hash
    listener.arm([sh.get_webhook(p, s).signing_secret or "" for s in (ANNOTATE, COMPLETE)])
    out.print(f"project {project.title!r}: webhooks on Annotate and Complete -> {listener_url}")
    task = sh.tasks(p, stage_uuid=ANNOTATE)[0]
    cat = ontology.structure["objects"][0]["featureNodeHash"]
    row = sh.get_label_row(p, task.label_hash)
    labels = {
        "data_units": {
            task.data_hash: {
                "labels": {
                    "objects": [
                        {
                            "objectHash": "demo0001",
                            "featureHash": cat,
                            "boundingBox": {"x": 0.25, "y": 0.25, "w": 0.4, "h": 0.55},
                        }
                    ],
                    "classifications": [],
                }
            }
        },
        "object_answers": {},
        "classification_answers": {},
    }
    sh.put_label_row(p, task.label_hash, labels, row.version)
    sh.act(p, ANNOTATE, [{"task_uuid": task.task_uuid, "action": "SUBMIT"}])
    sh.act(p, REVIEW, [{"task_uuid": task.task_uuid, "action": "APPROVE"}])
    out.print("labeled one task, submitted it at Annotate, approved it at Review")
    return p


def wait_for_events(sh: Client, listener: Listener, project_hash: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not listener.wait(2, 0.25):
        refused = _refusals(list(sh.iter_deliveries(project_hash)))
        if refused:
            raise DemoFailed(
                "the server refuses to deliver to this machine's listener (SSRF guard: "
                f"{refused[0]}). {LOOPBACK_HINT}"
            )
        if time.monotonic() > deadline:
            log = "; ".join(
                f"{d.event_type}: {d.status}, {d.last_error or d.last_status_code}"
                for d in sh.iter_deliveries(project_hash)
            )
            raise DemoFailed(
                f"only {len(listener.events)} of 2 events arrived within {timeout:.0f}s "
                f"(delivery log: {log or 'empty'})"
            )
    # The listener has them; the delivery log says so once the answers are recorded.
    while time.monotonic() < deadline:
        if all(d.status == "delivered" for d in sh.iter_deliveries(project_hash)):
            return
        time.sleep(0.1)


def report(sh: Client, listener: Listener, project_hash: str, out: Console) -> None:
    out.print("\n[bold]verified events[/bold]")
    for event in listener.events:
        out.print(f"{event.event_type} uid={event.uid}")
        out.print(json.dumps(event.payload.model_dump(mode="json")), markup=False)
    out.print("\n[bold]delivery log[/bold]")
    for d in sh.iter_deliveries(project_hash):
        answer = f"HTTP {d.last_status_code}" if d.last_status_code else d.last_error
        out.print(f"{d.event_type} -> {d.url}: {d.status} after {d.attempts} attempt(s), {answer}")


def run(settings: Settings, out: Console, *, stay: bool | None) -> int:
    """0 when both events arrived verified; 1 (with the reason) otherwise."""
    listener = Listener()
    try:
        with (
            server(settings, out) as (url, started),
            serving.in_thread(listener) as listener_url,
            Client(url, api_key(settings)) as sh,
        ):
            project_hash = drive(sh, listener, listener_url, out)
            wait_for_events(sh, listener, project_hash, WAIT_SECONDS)
            report(sh, listener, project_hash, out)
            page = f"/projects/{project_hash}"
            if not started:
                out.print(f"\nopen {url}{page} (sign in with the key `stagehook key` prints)")
            elif out.is_terminal if stay is None else stay:
                out.print(f"\nopen {url}{page} (sign in with the key `stagehook key` prints)")
                out.print("serving until Ctrl-C")
                with contextlib.suppress(KeyboardInterrupt):
                    threading.Event().wait()
            else:
                out.print(
                    f"\nthe project stays in {settings.data_dir}: run `stagehook serve "
                    f"--data-dir {settings.data_dir}` and open {page} on it"
                )
    except (DemoFailed, NotConfigured) as error:
        Console(stderr=True, soft_wrap=True).print(f"stagehook demo failed: {error}", markup=False)
        return 1
    except ApiError as error:
        message = f"stagehook demo failed: the server answered {error}"
        if "STAGEHOOK_ALLOWED_TARGET_NETWORKS" in error.message:
            message += f"\nThe demo's listener runs on this machine. {LOOPBACK_HINT}"
        Console(stderr=True, soft_wrap=True).print(message, markup=False)
        return 1
    return 0
