"""`groundswell up`: start every part as its own process, watch them, stop them cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from groundswell.parent_watch import SUPERVISOR_PID_ENV
from groundswell.settings import Settings


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path


class StopRequested(Exception):
    """A stop (Ctrl-C, SIGTERM, SIGHUP) came while `up` was still starting the parts."""


@dataclass
class Supervisor:
    settings: Settings
    children: list[Child] = field(default_factory=list)
    #: whether a stop was asked for: waits for a part end early (StopRequested)
    stop_requested: Callable[[], bool] = lambda: False

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> Child:
        log_dir = self.settings.data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{name}.log"
        log_file = log_path.open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "groundswell.cli", *args],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self._env(), **(env or {})},
            start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
        )
        child = Child(name, proc, log_path)
        self.children.append(child)
        return child

    def _env(self) -> dict[str, str]:
        s = self.settings
        # each part stops by itself once this process is gone (groundswell.parent_watch)
        return {
            "GROUNDSWELL_DATA_DIR": str(s.data_dir.resolve()),
            SUPERVISOR_PID_ENV: str(os.getpid()),
        }

    def check_alive(self) -> None:
        for c in self.children:
            code = c.proc.poll()
            if code is not None:
                tail = c.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{c.name} exited with {code}; last log lines ({c.log_path}):\n{tail}")

    def wait_for(self, what: str, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_print = 0.0
        while not ready():
            self.check_alive()
            if self.stop_requested():
                raise StopRequested(what)
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(
                    f"{what} not ready after {timeout:.0f}s (logs in {self.settings.data_dir / 'logs'})"
                )
            if now - last_print >= 1.0:
                print(f"  waiting for {what} ... {timeout - (deadline - now):.0f}s", flush=True)
                last_print = now
            time.sleep(0.25)

    def stop(self) -> None:
        for c in reversed(self.children):
            if c.proc.poll() is None:
                c.proc.send_signal(signal.SIGTERM)
                try:
                    c.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    c.proc.kill()
                    c.proc.wait()
        self.children.clear()


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False
