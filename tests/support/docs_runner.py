"""Run a docs page's code blocks the way a reader pastes them.

The convention (docs/README.md says the same):

- ```` ```bash ```` blocks run in order in one shell, the reader's terminal: variables
  and ``&`` background jobs carry over from block to block, and any failing command
  fails the page.
- A ``bash`` block whose first line contains ``(keeps running)`` is a separate terminal
  (a server, a receiver): it is started on its own, and the page goes on once it prints
  ``listening on``.
- ```` ```python ```` blocks whose first line is ``# file: NAME`` are written to ``NAME``
  (later blocks run them); other ``python`` blocks run as complete programs.
- Any other fence (``console``, ``text``, ``json``, none) is output or a command the
  page does not expect you to run, and CI leaves it alone.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

RUNNABLE = ("bash", "python")
KEEPS_RUNNING = "(keeps running)"
READY = "listening on"
_FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
_FILE = re.compile(r"^# file: (\S+)")
_DONE = "__docs_block_done__"


@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    line: int

    @property
    def keeps_running(self) -> bool:
        return self.lang == "bash" and KEEPS_RUNNING in self.code.split("\n", 1)[0]

    @property
    def file_name(self) -> str | None:
        match = _FILE.match(self.code) if self.lang == "python" else None
        return match.group(1) if match else None


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    return [
        Block(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1)
        for m in _FENCE.finditer(text)
    ]


def runnable(page: Path) -> list[Block]:
    return [b for b in blocks(page) if b.lang in RUNNABLE]


@dataclass
class Terminal:
    """One long-running block: its own process group, its own output."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(self.lines)


def _pump(stream: object, sink: list[str], signal_queue: queue.Queue[str] | None) -> None:
    for line in stream:  # type: ignore[attr-defined]
        sink.append(line)
        if signal_queue is not None:
            signal_queue.put(line)


class PageRun:
    """A reader's terminal plus the extra terminals the page opens; always cleaned up."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.terminals: list[Terminal] = []
        self.output: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        self.shell = subprocess.Popen(
            ["bash", "--norc", "--noprofile"],
            cwd=workdir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(
            target=_pump, args=(self.shell.stdout, self.output, self._lines), daemon=True
        ).start()
        self._send("set -eo pipefail")

    def _send(self, command: str) -> None:
        assert self.shell.stdin is not None
        self.shell.stdin.write(command + "\n")
        self.shell.stdin.flush()

    def transcript(self) -> str:
        shell = "".join(self.output)
        parts = [re.sub(_DONE + r"\d+\n?", "", shell)]
        for n, terminal in enumerate(self.terminals, 2):
            parts.append(f"\n--- terminal {n} ---\n{terminal.text()}")
        return "".join(parts)

    def run(self, block: Block, number: int, timeout: float = 120) -> None:
        where = f"block {number} (line {block.line})"
        if block.keeps_running:
            self._start_terminal(block, where)
            return
        if block.file_name:
            (self.workdir / block.file_name).write_text(block.code)
            return
        script = self.workdir / f".block{number}.{'sh' if block.lang == 'bash' else 'py'}"
        script.write_text(block.code)
        command = f"source {script.name}" if block.lang == "bash" else f"python3 {script.name}"
        marker = f"{_DONE}{number}"
        self._send(f"{command}; echo {marker}")
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{where} did not finish in {timeout}s\n{self.transcript()}")
            try:
                line = self._lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                if self.shell.poll() is not None:
                    raise AssertionError(f"{where} failed\n{self.transcript()}") from None
                continue
            if line.rstrip().endswith(marker):
                return

    def _start_terminal(self, block: Block, where: str, timeout: float = 120) -> None:
        process = subprocess.Popen(
            ["bash", "--norc", "--noprofile", "-eo", "pipefail", "-c", block.code],
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        terminal = Terminal(process)
        self.terminals.append(terminal)
        threading.Thread(
            target=_pump, args=(process.stdout, terminal.lines, None), daemon=True
        ).start()
        deadline = time.monotonic() + timeout
        while READY not in terminal.text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{where} never said '{READY}'\n{self.transcript()}")
            time.sleep(0.1)

    def wait_for(self, texts: list[str], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not all(t in self.transcript() for t in texts):
            if time.monotonic() > deadline:
                missing = [t for t in texts if t not in self.transcript()]
                raise AssertionError(f"never saw {missing}\n{self.transcript()}")
            time.sleep(0.1)

    def close(self) -> None:
        """Stop every terminal and all it started (``&`` jobs too), and wait until they are gone."""
        groups = [self.shell.pid, *(t.process.pid for t in self.terminals)]
        for group in groups:
            _signal_group(group, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while any(_group_alive(g) for g in groups) and time.monotonic() < deadline:
            for process in [self.shell, *(t.process for t in self.terminals)]:
                process.poll()
            time.sleep(0.1)
        for group in groups:
            _signal_group(group, signal.SIGKILL)
        for process in [self.shell, *(t.process for t in self.terminals)]:
            process.wait(timeout=10)


def _signal_group(group: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_page(page: Path, workdir: Path, env: dict[str, str], expect: list[str]) -> str:
    """Run every runnable block of ``page``; then wait for ``expect`` in the output."""
    run = PageRun(workdir, env)
    try:
        for number, block in enumerate(runnable(page), 1):
            run.run(block, number)
        run.wait_for(expect)
        return run.transcript()
    finally:
        run.close()
