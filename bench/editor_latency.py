"""The labeling editor in a real browser (Debian chromium via Playwright).

1. **Submit & next** on a 10,000-task queue: an annotator draws a box and clicks
   "Submit & next"; we time from the click (a capture listener in the page) to the
   next task's image shown with the editor ready to draw (``data-ready`` set, then one
   animation frame). Side by side in one run:

   * ``prefetch``: the editor as shipped (the next task and its image are fetched while
     the annotator works);
   * ``sequential``: the same page with the prefetch request blocked, so the image is
     fetched only after the submit answers (what Label Studio does).

   Images are 1024x768 JPEGs uploaded through the API (served by
   ``/api/v1/data-units/{h}/content``); the rest of the 10,000-task queue is data units
   by URI (never opened), so the "next task" query runs against the full queue.

2. **Heavy task page**: a 2048x1536 image with 300 boxes; time from navigation start
   until the editor accepts input, next to the same image with no boxes.

    python bench/editor_latency.py                 # 10,000 tasks, 30 walked per mode
    python bench/editor_latency.py --tasks 2000 --walk 10
"""

from __future__ import annotations

import argparse
import io
import random
import tempfile
from pathlib import Path
from typing import Any

from _common import machine, median, percentile
from PIL import Image
from playwright.sync_api import Page, sync_playwright
from tests.support import ui
from tests.support.api import Api
from tests.support.browser import ADMIN_KEY, CHROMIUM, CHROMIUM_ARGS
from tests.support.labeling import CAR, ontology_structure
from tests.support.server import serve_app
from tests.support.workbench import drag_box, scene_png, wait_ready, wait_saved
from tests.support.workflows import ANNOTATE, basic_workflow

from stagehook.config import Settings
from stagehook.server import build_server_app

#: In the page: stamp the click on "Submit & next", and the first frame after the next
#: task is ready (the editor sets ``data-ready`` once its image is decoded and shown).
PROBE = """() => {
  const root = document.querySelector("[data-workbench]");
  window.__ready = [];
  document.addEventListener("click", (e) => {
    if (e.target.closest('[data-do="SUBMIT"]')) window.__clicked = performance.now();
  }, true);
  new MutationObserver(() => {
    if (root.dataset.ready) requestAnimationFrame(() => window.__ready.push(performance.now()));
  }).observe(root, { attributes: true, attributeFilter: ["data-ready"] });
}"""

#: Resolve once a ready stamp beyond the first ``seen`` exists (no eval: the CSP forbids it).
WAIT_READY = """(seen) => new Promise((resolve) => {
  const check = () => window.__ready.length > seen ? resolve() : setTimeout(check, 5);
  check();
})"""

READY_AT = """() => new Promise((resolve) => {
  const root = document.querySelector("[data-workbench]");
  const done = () => requestAnimationFrame(() => resolve(performance.now()));
  if (root.dataset.ready) { done(); return; }
  new MutationObserver((_, obs) => {
    if (root.dataset.ready) { obs.disconnect(); done(); }
  }).observe(root, { attributes: true, attributeFilter: ["data-ready"] });
})"""


def jpeg(size: tuple[int, int], seed: int) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(scene_png(size, seed))).convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def queue_project(api: Api, total: int, uploaded: int) -> str:
    """``uploaded`` real JPEGs first in the queue, then URI units up to ``total`` tasks."""
    ontology = api.create_ontology("Bench", ontology_structure())
    dataset = api.create_dataset("bench queue")
    for start in range(0, uploaded, 20):
        batch = [
            (f"q{i:05d}.jpg", jpeg((1024, 768), i)) for i in range(start, min(uploaded, start + 20))
        ]
        api.upload_images(dataset["dataset_hash"], batch)
    rest = [
        {"title": f"r{i:05d}.jpg", "uri": f"https://media.example.com/r{i:05d}.jpg"}
        for i in range(total - uploaded)
    ]
    for start in range(0, len(rest), 5000):
        api.add_data_units(dataset["dataset_hash"], rest[start : start + 5000])
    project = api.create_project(
        "Bench queue",
        [dataset["dataset_hash"]],
        workflow=basic_workflow(),
        ontology_hash=ontology["ontology_hash"],
    )
    return str(project["project_hash"])


#: The last "advance" request's time in the network (request start -> response end).
ADVANCE_MS = """() => {
  const hits = performance.getEntriesByType("resource").filter((e) => e.name.endsWith("/advance"));
  const last = hits.at(-1);
  performance.clearResourceTimings();
  return last ? last.responseEnd - last.startTime : NaN;
}"""


def walk(page: Page, steps: int, requests: list[float] | None = None) -> list[float]:
    """Draw a box and Submit & next, ``steps`` times; click -> next image ready (ms).

    ``requests`` collects how long each submit's request took (the server's share).
    """
    page.evaluate(PROBE)
    times = []
    for i in range(steps):
        seen = page.evaluate("window.__ready.length")
        page.keyboard.press("1")
        drag_box(page, (0.2, 0.2), (0.4 + 0.01 * (i % 10), 0.5))
        wait_saved(page)  # autosave done, as when an annotator pauses before submitting
        page.get_by_role("button", name="Submit & next").click()
        page.evaluate(WAIT_READY, seen)
        clicked, ready = page.evaluate("[window.__clicked, window.__ready.at(-1)]")
        times.append(ready - clicked)
        if requests is not None:
            requests.append(page.evaluate(ADVANCE_MS))
    return times


def submit_and_next(page: Page, api: Api, tasks: int, steps: int) -> dict[str, list[float]]:
    project = queue_project(api, tasks, 2 * steps + 4)
    page.goto(f"/projects/{project}/stages/{ANNOTATE}")
    page.get_by_role("button", name="Start labeling").click()
    page.wait_for_selector("[data-workbench][data-ready]")
    walk(page, 2)  # warm-up: caches, JIT
    requests: list[float] = []
    results = {"prefetch": walk(page, steps, requests)}
    page.route("**/tasks/*/next", lambda route: route.abort())
    walk(page, 1)  # the task opened now was prefetched before the block
    results["sequential"] = walk(page, steps)
    page.unroute("**/tasks/*/next")
    results["(its request)"] = requests
    return results


def boxes(n: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        x, y = rng.uniform(0, 0.9), rng.uniform(0, 0.9)
        w, h = rng.uniform(0.01, 0.1), rng.uniform(0.01, 0.1)
        box = {"x": round(x, 4), "y": round(y, 4), "w": round(w, 4), "h": round(h, 4)}
        out.append(
            {
                "objectHash": f"b{i:07d}",
                "featureHash": CAR,
                "shape": "bounding_box",
                "boundingBox": box,
            }
        )
    return out


def heavy_page(page: Page, api: Api, rounds: int) -> dict[str, list[float]]:
    """Navigation start -> editor ready, a 2048x1536 image with 300 boxes and with none."""
    ontology = api.create_ontology("Heavy", ontology_structure())
    dataset = api.create_dataset("heavy")
    units = api.upload_images(
        dataset["dataset_hash"],
        [("big-1.jpg", jpeg((2048, 1536), 1)), ("big-2.jpg", jpeg((2048, 1536), 2))],
    )
    project = api.create_project(
        "Heavy",
        [dataset["dataset_hash"]],
        workflow=basic_workflow(),
        ontology_hash=ontology["ontology_hash"],
    )
    tasks = {t["data_hash"]: t for t in api.tasks(project["project_hash"])}
    loaded = tasks[units[0]["data_hash"]]
    empty = tasks[units[1]["data_hash"]]
    row = api.get_label_row(project["project_hash"], loaded["label_hash"])
    data_hash = loaded["data_hash"]
    labels = {"data_units": {data_hash: {"labels": {"objects": boxes(300), "classifications": []}}}}
    api.put_label_row(project["project_hash"], loaded["label_hash"], labels, row["version"])
    results: dict[str, list[float]] = {"300 boxes": [], "no boxes": []}
    for _ in range(rounds):
        for name, task in (("300 boxes", loaded), ("no boxes", empty)):
            page.goto(f"/projects/{project['project_hash']}/tasks/{task['task_uuid']}")
            results[name].append(page.evaluate(READY_AT))
            wait_ready(page, task["task_uuid"])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--walk", type=int, default=30, help="submits timed per mode")
    parser.add_argument("--rounds", type=int, default=7, help="loads of the heavy page")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = Settings(
            data_dir=folder,
            database_url=f"sqlite:///{folder / 'bench.db'}",
            bootstrap_api_key=ADMIN_KEY,
            media_origins=["https://media.example.com"],
        )
        app = build_server_app(settings, embedded_dispatcher=True)
        with serve_app(app) as url, Api(url, ADMIN_KEY) as api, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800}, base_url=url)
            page.set_default_timeout(30_000)
            ui.sign_in_with_key(page)
            walked = submit_and_next(page, api, args.tasks, args.walk)
            print(
                f"\nSubmit & next, click -> next image ready, {args.tasks} tasks, "
                f"{args.walk} submits per mode (ms):"
            )
            for name, times in walked.items():
                print(
                    f"  {name:<11} p50 {median(times):7.1f}  p95 {percentile(times, 95):7.1f}"
                    f"  max {max(times):7.1f}"
                )
            ratio = median(walked["sequential"]) / median(walked["prefetch"])
            # "(its request)": the submit request alone, in the prefetch walk
            print(f"  sequential / prefetch (p50): {ratio:.2f}x")
            heavy = heavy_page(page, api, args.rounds)
            print(
                f"\nTask page, 2048x1536 JPEG, navigation start -> editor ready, "
                f"{args.rounds} loads (ms):"
            )
            for name, times in heavy.items():
                print(f"  {name:<10} p50 {median(times):7.1f}  max {max(times):7.1f}")
            cost = median(heavy["300 boxes"]) / median(heavy["no boxes"])
            print(f"  300 boxes / no boxes (p50): {cost:.2f}x")
            browser.close()
        app.state.store.db.dispose()


if __name__ == "__main__":
    main()
