"""A fresh embedded ArcadeDB for one benchmark run: a temporary folder, free ports, stopped after."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from graph.arcadedb_server import free_port, spawn, stop_spawned
from groundswell.settings import Settings


@contextlib.contextmanager
def scratch_store(heap: str, prefix: str) -> Iterator[Settings]:
    """The settings of an embedded ArcadeDB started in a new temporary folder (``prefix``...) with
    ``heap``; it is stopped and the folder removed when the block ends."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            arcadedb_http_port=free_port(),
            arcadedb_bolt_port=free_port(),
            arcadedb_heap=heap,
        )
        proc = spawn(settings, timeout=300.0)
        try:
            yield settings
        finally:
            stop_spawned(proc)
