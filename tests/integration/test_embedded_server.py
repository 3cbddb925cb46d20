"""The embedded store, started by a process that then dies without stopping it, stops on its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from groundswell.processes import alive

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

# a parent that starts the store through graph.arcadedb_server.spawn, says the store's pid, and
# then waits to be killed (as a benchmark or a test run killed with SIGKILL would be)
PARENT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from graph.arcadedb_server import free_port, spawn
    from groundswell.settings import Settings

    settings = Settings(
        data_dir=Path(sys.argv[1]), arcadedb_http_port=free_port(), arcadedb_bolt_port=free_port(),
        arcadedb_heap="512m",
    )
    proc = spawn(settings, timeout=180.0)
    print(proc.pid, flush=True)
    time.sleep(600)
    """
)


def test_the_store_stops_when_the_process_that_started_it_is_killed(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    store_pid = 0
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line.strip().isdigit(), f"the parent did not start the store: {line!r}"
        store_pid = int(line)
        assert alive(store_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 60
        while alive(store_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(store_pid), "the store outlived the process that started it"
        assert not (tmp_path / "arcadedb.ready").exists(), "the store did not stop cleanly"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        if store_pid and alive(store_pid):
            os.kill(store_pid, signal.SIGKILL)


def test_a_store_started_from_a_clone_leaves_no_log_folder_in_it(tmp_path: Path) -> None:
    """The engine writes ./log: the server runs from the store's folder, with relative paths resolved
    first (``groundswell up`` starts it from the clone, with data_dir ``var``)."""
    from graph.arcadedb_server import free_port, stop_spawned

    clone = tmp_path / "clone"
    clone.mkdir()
    store = subprocess.Popen(
        [sys.executable, "-m", "graph.arcadedb_server", "--data-dir", "var", "--ready-file", "var/ready",
         "--http-port", str(free_port()), "--bolt-port", str(free_port()), "--heap", "512m"],
        cwd=clone,
        env={**os.environ, "PYTHONPATH": str(ROOT), "GROUNDSWELL_GRAPH_PASSWORD": "clone-test-pw"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not (clone / "var" / "ready").exists():
            assert store.poll() is None, "the store exited"
            assert time.monotonic() < deadline, "the store did not get ready"
            time.sleep(0.2)
    finally:
        assert stop_spawned(store) == 0
    assert not (clone / "log").exists()
    store_dir = clone / "var" / "arcadedb"
    assert (store_dir / "log").is_dir() and (store_dir / "databases").is_dir()
