"""``stagehook import`` of small images against ``cp``, and a 10,000-row export's speed and
server memory.

Runs a real ``stagehook serve`` process on a scratch database (SQLite by default).

1. Import: ``--images`` (default 2,000) distinct 64x48 PNGs made with Pillow, copied with
   ``cp -r`` and then imported with ``python -m stagehook import`` (a fresh process, as a
   user runs it), then imported again (everything skipped by content hash).
2. Export: a project of ``--rows`` (default 10,000) tasks whose label rows each hold
   ``--boxes`` boxes (written through the store, as the API would store them), exported as
   Encord rows and as COCO over HTTP. The server's resident memory is sampled every 10 ms
   from /proc during each export; its idle RSS before is the baseline.

    python bench/import_export.py
    python bench/import_export.py --backend postgresql --images 500 --rows 2000
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from _common import ROOT, machine, scratch_database, settings_env, wait_until
from PIL import Image
from sqlalchemy import bindparam, select, update
from tests.support.labeling import CAR, box, ontology_structure, row
from tests.support.processes import free_port
from tests.support.workflows import basic_workflow

from stagehook.clock import Clock
from stagehook.config import Settings
from stagehook.labeling.ontology import Index, Structure
from stagehook.labeling.rows import normalise
from stagehook.runtime import open_store
from stagehook.store.tables import label_rows, tasks

KEY = "shk_bench_import_export"


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class PeakRss:
    """Sample a process's RSS in a thread while the block runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.01)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def make_images(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    for i in range(n):
        image = Image.new("RGB", (64, 48), (i % 256, (i // 256) % 256, 90))
        image.save(folder / f"img{i:05d}.png")


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, capture_output=True, cwd=ROOT)
    return time.perf_counter() - start


def bench_import(base: str, client: httpx.Client, env: dict[str, str], n: int, tmp: Path) -> None:
    src = tmp / "images"
    make_images(src, n)
    size = sum(p.stat().st_size for p in src.iterdir())
    # cp first warms the page cache for both runs alike.
    cp = timed(["cp", "-r", str(src), str(tmp / "copy")])
    cp2 = timed(["cp", "-r", str(src), str(tmp / "copy2")])
    dataset = client.post("/datasets", json={"title": "bench"}).json()["dataset_hash"]
    cli = [sys.executable, "-m", "stagehook", "import", str(src), "--dataset", dataset]
    cli_env = env | {"STAGEHOOK_URL": base, "STAGEHOOK_API_KEY": KEY}
    first = timed(cli, cli_env)
    again = timed(cli, cli_env)
    cp_best = min(cp, cp2)
    print(f"\nimport of {n} PNGs ({size / n:.0f} bytes each, {size / 1e6:.1f} MB):")
    print(f"  cp -r                    {cp_best * 1000:8.0f} ms   ({n / cp_best:,.0f} files/s)")
    print(f"  stagehook import         {first * 1000:8.0f} ms   ({n / first:,.0f} images/s)")
    print(f"  stagehook import again   {again * 1000:8.0f} ms   (all {n} skipped by sha256)")
    print(f"  import / cp = {first / cp_best:.1f}x")


def seed_rows(env: dict[str, str], client: httpx.Client, rows: int, boxes: int) -> str:
    ontology = client.post(
        "/ontologies", json={"title": "bench", "structure": ontology_structure()}
    ).json()
    dataset = client.post("/datasets", json={"title": "refs"}).json()["dataset_hash"]
    for start in range(0, rows, 5000):
        items = [
            {
                "title": f"f{i}.jpg",
                "uri": f"https://media.example.com/f{i}.jpg",
                "width": 1920,
                "height": 1080,
            }
            for i in range(start, min(rows, start + 5000))
        ]
        client.post(f"/datasets/{dataset}/data-units", json={"items": items}).raise_for_status()
    project = client.post(
        "/projects",
        json={
            "title": "bench",
            "dataset_hashes": [dataset],
            "workflow": basic_workflow(),
            "ontology_hash": ontology["ontology_hash"],
        },
    ).json()
    project_hash = str(project["project_hash"])
    settings = Settings(
        data_dir=Path(env["STAGEHOOK_DATA_DIR"]), database_url=env.get("STAGEHOOK_DATABASE_URL")
    )
    store = open_store(settings, Clock())
    index = Index(Structure.model_validate(ontology["structure"]))
    with store.db.write() as conn:
        pairs = conn.execute(
            select(tasks.c.label_hash, tasks.c.data_hash).where(
                tasks.c.project_hash == project_hash
            )
        ).all()
        values = []
        for label_hash, data_hash in pairs:
            objects = [
                box(CAR, f"o{k}", x=0.01 * k, y=0.02 * k, w=0.05, h=0.05) for k in range(boxes)
            ]
            labels = normalise(index, row(data_hash, objects), {}, data_hash, "bench", 0.0)
            values.append({"b_label": label_hash, "b_labels": labels})
        conn.execute(
            update(label_rows)
            .where(label_rows.c.label_hash == bindparam("b_label"))
            .values(labels=bindparam("b_labels"), version=1),
            values,
        )
    store.db.dispose()
    return project_hash


def bench_export(client: httpx.Client, pid: int, project_hash: str, rows: int) -> None:
    idle = rss_kib(pid)
    print(f"\nexport of {rows:,} label rows (server idle RSS {idle / 1024:.0f} MiB):")
    for fmt in ("encord", "coco"):
        with PeakRss(pid) as peak:
            start = time.perf_counter()
            size = 0
            with client.stream(
                "GET", f"/projects/{project_hash}/export", params={"format": fmt}
            ) as response:
                response.raise_for_status()
                for chunk in response.iter_bytes():
                    size += len(chunk)
            took = time.perf_counter() - start
        print(
            f"  {fmt:7s} {took:6.2f} s  {rows / took:8,.0f} rows/s  {size / 1e6:6.1f} MB  "
            f"peak RSS {peak.peak / 1024:.0f} MiB (+{(peak.peak - idle) / 1024:.0f} MiB over idle)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--boxes", type=int, default=5)
    args = parser.parse_args()
    print(machine())
    print(f"backend: {args.backend}")
    with scratch_database(args.backend) as (url, data_dir), tempfile.TemporaryDirectory() as t:
        env = settings_env(url, data_dir, bootstrap_api_key=KEY)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [sys.executable, "-m", "stagehook", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:

            def up() -> bool:
                try:
                    return httpx.get(base + "/healthz", timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False

            if not wait_until(up, 60):
                raise SystemExit("server did not start")
            headers = {"authorization": f"Bearer {KEY}"}
            with httpx.Client(base_url=base + "/api/v1", headers=headers, timeout=600) as client:
                bench_import(base, client, env, args.images, Path(t))
                project_hash = seed_rows(env, client, args.rows, args.boxes)
                bench_export(client, server.pid, project_hash, args.rows)
        finally:
            server.terminate()
            server.wait(timeout=30)
            shutil.rmtree(Path(t), ignore_errors=True)


if __name__ == "__main__":
    main()
