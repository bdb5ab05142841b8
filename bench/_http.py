"""HTTP side of the API benchmarks: a real ``stagehook serve`` process and loopback load.

The server is ``python -m stagehook serve`` in its own process (what users run); the
load comes from aiohttp clients in the bench process over 127.0.0.1 with keep-alive
connections, closed loop (each client sends its next request when the last answered)
or open loop (requests started on a fixed schedule, for latency at a given rate).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from _common import ROOT, settings_env
from tests.support.processes import children

BENCH_KEY = "shk_bench"
AUTH = {"authorization": f"Bearer {BENCH_KEY}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    pid: int
    log: Path

    def rss_mb(self) -> float:
        return _rss_mb(self.pid)

    def children_rss_mb(self) -> float:
        """Its running children's RSS (the delivery worker child)."""
        return sum(_rss_mb(pid) for pid in children(self.pid))

    def children_cpu_seconds(self) -> float:
        """Its running children's CPU: the delivery worker ``serve`` starts beside the
        API on a machine with several cores (both backends)."""
        return sum(_cpu(pid) for pid in children(self.pid))

    def cpu_seconds(self) -> float:
        """The ``serve`` process's own CPU (utime + stime)."""
        return _cpu(self.pid)


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # a child that just exited
        return 0.0
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, 10 ms ticks


@contextlib.contextmanager
def serve_process(
    database_url: str | None, data_dir: Path, *args: str, src: Path = ROOT / "src"
) -> Iterator[Server]:
    """``stagehook serve`` (the code in ``src``) on a free port, once ``/healthz`` answers."""
    port = free_port()
    env = settings_env(database_url, data_dir, bootstrap_api_key=BENCH_KEY)
    env["PYTHONPATH"] = str(src)
    log = data_dir / f"serve-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stagehook", "serve", "--port", str(port), *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield Server(url, proc.pid, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _healthy(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


# --------------------------------------------------------------------------- load
Request = Callable[[aiohttp.ClientSession, int], Awaitable[None]]


@dataclass
class Load:
    done: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0


def session(base_url: str, clients: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    jar = aiohttp.CookieJar(unsafe=True)  # keep the session cookie of an IP address host
    return aiohttp.ClientSession(base_url, connector=connector, cookie_jar=jar)


async def closed_loop(
    http: aiohttp.ClientSession, request: Request, clients: int, seconds: float
) -> Load:
    """``clients`` concurrent loops sending ``request(http, n)`` for ``seconds``."""
    load = Load()
    counter = iter(range(10**9))
    stop = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < stop:
            n = next(counter)
            started = time.perf_counter()
            try:
                await request(http, n)
            except (TimeoutError, aiohttp.ClientError, AssertionError):
                load.errors += 1
                continue
            load.latencies.append(time.perf_counter() - started)
            load.done += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    load.seconds = time.perf_counter() - started
    return load


async def open_loop(
    http: aiohttp.ClientSession, request: Request, rate: float, seconds: float
) -> Load:
    """Start ``request`` ``rate`` times a second on a fixed schedule (not when answered)."""
    load = Load()
    pending: set[asyncio.Task[None]] = set()
    total = int(rate * seconds)
    started = time.perf_counter()

    async def one(n: int) -> None:
        try:
            await request(http, n)
            load.done += 1
        except (TimeoutError, aiohttp.ClientError, AssertionError):
            load.errors += 1

    for n in range(total):
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(n))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    load.seconds = time.perf_counter() - started
    return load


async def sign_in(http: aiohttp.ClientSession) -> str:
    """A browser session for the UI pages (signed in with the bench API key); its CSRF token."""
    async with http.get("/signin") as response:
        page = await response.text()
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "no CSRF token on the sign-in page"
    form = {"csrf": match.group(1), "api_key": BENCH_KEY, "next": "/projects"}
    async with http.post("/signin", data=form, allow_redirects=False) as response:
        assert response.status in (302, 303), f"sign-in answered {response.status}"
    async with http.get("/projects") as response:
        found = re.search(r'name="csrf" value="([^"]+)"', await response.text())
    assert found, "no CSRF token on /projects"
    return found.group(1)


def rss_sampler(server: Server, every: float) -> tuple[list[float], list[float], threading.Event]:
    """Sample the server's RSS and its children's (MB) every ``every`` seconds until the
    event is set."""
    samples: list[float] = []
    children: list[float] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every):
            with contextlib.suppress(OSError):
                samples.append(server.rss_mb())
                children.append(server.children_rss_mb())

    threading.Thread(target=run, daemon=True).start()
    return samples, children, stop
