"""Embedded ArcadeDB, run as a server with its Bolt plugin on loopback.

The graph store of the one-machine mode: the PyPI wheel ``arcadedb-embedded`` (bundled JRE) is
started in its own process (``groundswell graph-server`` or ``python -m graph.arcadedb_server``);
everything else reaches it through the official ``neo4j`` driver at
``bolt://127.0.0.1:<arcadedb_bolt_port>``, exactly as it would reach Neo4j.

Data lives under ``settings.data_dir / "arcadedb"``; a second start opens the same database.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from groundswell.parent_watch import stop_with_parent
from groundswell.settings import Settings

log = logging.getLogger(__name__)

BOLT_PLUGIN = "Bolt:com.arcadedb.bolt.BoltProtocolPlugin"


def arcadedb_root(settings: Settings) -> Path:
    return (settings.data_dir / "arcadedb").resolve()


class EmbeddedArcadeDB:
    """A started ArcadeDB server (HTTP + Bolt on 127.0.0.1) holding ``settings.graph_database``."""

    def __init__(self, settings: Settings) -> None:
        import arcadedb_embedded
        from arcadedb_embedded.jvm import start_jvm

        self.settings = settings
        self.root = arcadedb_root(settings)
        self.root.mkdir(parents=True, exist_ok=True)
        # The engine writes its application log and JVM crash files under ./log: keep them
        # with the data, not in whatever directory the process was started from.
        os.environ.setdefault("ARCADEDB_JVM_ERROR_FILE", str(self.root / "log" / "hs_err_pid%p.log"))
        # -Xrs: the JVM leaves SIGINT/SIGTERM to Python, so serve_forever shuts down cleanly.
        start_jvm(heap_size=settings.arcadedb_heap, jvm_args=["-Xrs"])
        self._server: Any = arcadedb_embedded.create_server(
            root_path=str(self.root),
            root_password=settings.graph_password.get_secret_value(),
            config={
                "host": "127.0.0.1",
                "http_port": settings.arcadedb_http_port,
                "server_plugins": BOLT_PLUGIN,
                "bolt_port": settings.arcadedb_bolt_port,
            },
        )
        self._started = False

    def start(self) -> None:
        self._server.start()
        self._started = True
        # get_database(name, createIfNotExists=True): opens the existing one after a restart.
        self._server.create_database(self.settings.graph_database)
        log.info(
            "ArcadeDB started: bolt://127.0.0.1:%d (http %d), database %r at %s",
            self.settings.arcadedb_bolt_port,
            self.settings.arcadedb_http_port,
            self.settings.graph_database,
            self.root,
        )

    def stop(self) -> None:
        if self._started:
            self._started = False
            self._server.stop()
            log.info("ArcadeDB stopped")


def wait_until_ready(
    uri: str, auth: tuple[str, str], timeout: float = 60.0, database: str | None = None
) -> None:
    """Block until a Bolt server at ``uri`` answers ``RETURN 1`` (raises TimeoutError otherwise)."""
    import neo4j

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with neo4j.GraphDatabase.driver(uri, auth=auth, connection_timeout=2.0) as driver:
                records, _, _ = driver.execute_query("RETURN 1 AS one", database_=database)
                if records and records[0]["one"] == 1:
                    return
        except Exception as exc:  # not up yet: refused, handshake, auth not loaded, ...
            last = exc
        time.sleep(0.25)
    raise TimeoutError(f"graph store at {uri} not ready after {timeout:.0f}s: {last!r}")


def serve_forever(settings: Settings, ready_file: Path | None = None, parent_pid: int | None = None) -> None:
    """Start ArcadeDB, write ``ready_file`` once it answers, block until SIGINT/SIGTERM, stop. Runs
    in a process of its own: it changes the working directory to the store's folder. ``parent_pid``:
    also stop (cleanly) once that process is no longer this one's parent, so a parent killed without
    the chance to stop it (SIGKILL, a crash) leaves no store behind (``groundswell.parent_watch``)."""
    # The engine writes its application log to ./log: run from the store's folder, so that a store
    # started from a clone (``groundswell up``, ``graph-server``) leaves no log/ in it. Paths first.
    settings = settings.model_copy(update={"data_dir": settings.data_dir.resolve()})
    ready_file = ready_file.resolve() if ready_file is not None else None
    root = arcadedb_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    os.chdir(root)
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    if parent_pid is not None:  # its SIGTERM, once the parent is gone, reaches _on_signal
        stop_with_parent(parent_pid)
    server = EmbeddedArcadeDB(settings)
    try:
        server.start()
        wait_until_ready(
            settings.effective_graph_uri,
            (settings.graph_user, settings.graph_password.get_secret_value()),
            timeout=60.0,
            database=settings.graph_database,
        )
        if ready_file is not None:
            ready_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = ready_file.with_name(ready_file.name + ".tmp")
            tmp.write_text(settings.effective_graph_uri + "\n")
            tmp.replace(ready_file)
        while not stop.wait(0.5):  # timed: the signal handlers run between the waits
            pass
    finally:
        try:
            server.stop()
        finally:
            if ready_file is not None:
                ready_file.unlink(missing_ok=True)
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(
    settings: Settings, timeout: float = 120.0, log_file: Path | None = None
) -> subprocess.Popen[bytes]:
    """Run ``serve_forever`` in a child process (``python -m graph.arcadedb_server``) and wait
    until it is ready. Stop it with ``stop_spawned``."""
    ready = settings.data_dir.resolve() / "arcadedb.ready"
    ready.unlink(missing_ok=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    out = open(log_file or settings.data_dir / "arcadedb.out", "ab")  # noqa: SIM115 - the child's
    cmd = [
        sys.executable,
        "-m",
        "graph.arcadedb_server",
        "--data-dir",
        str(settings.data_dir.resolve()),
        "--http-port",
        str(settings.arcadedb_http_port),
        "--bolt-port",
        str(settings.arcadedb_bolt_port),
        "--heap",
        settings.arcadedb_heap,
        "--ready-file",
        str(ready),
        "--parent-pid",
        str(os.getpid()),
    ]
    env = {**os.environ, "GROUNDSWELL_GRAPH_PASSWORD": settings.graph_password.get_secret_value()}
    env["GROUNDSWELL_GRAPH_DATABASE"] = settings.graph_database
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH")])
    )
    proc = subprocess.Popen(
        cmd, stdout=out, stderr=subprocess.STDOUT, cwd=settings.data_dir.resolve(), env=env
    )
    out.close()
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"ArcadeDB exited with {proc.returncode}; see {out.name}")
        if time.monotonic() > deadline:
            stop_spawned(proc)
            raise TimeoutError(f"ArcadeDB not ready after {timeout:.0f}s; see {out.name}")
        time.sleep(0.2)
    return proc


def stop_spawned(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM, wait for the clean shutdown, SIGKILL as a last resort. -> exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return int(proc.returncode)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run embedded ArcadeDB with Bolt on loopback")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--http-port", type=int)
    parser.add_argument("--bolt-port", type=int)
    parser.add_argument("--heap")
    parser.add_argument("--ready-file", type=Path)
    parser.add_argument("--parent-pid", type=int, help="stop when this process is no longer the parent")
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {}
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    if args.http_port is not None:
        overrides["arcadedb_http_port"] = args.http_port
    if args.bolt_port is not None:
        overrides["arcadedb_bolt_port"] = args.bolt_port
    if args.heap is not None:
        overrides["arcadedb_heap"] = args.heap
    settings = Settings(**overrides)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    serve_forever(settings, args.ready_file, args.parent_pid)


if __name__ == "__main__":
    main()
