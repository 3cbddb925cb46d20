"""Small real samples bundled with the package for the demo (provenance: sources/data/demo/README.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from activity.raw import RawEvent
from sources.replay import iter_files

DEMO_DIR = Path(__file__).parent / "data" / "demo"


def demo_files() -> list[Path]:
    """The bundled demo captures (gzipped JSONL, one real payload per line), sorted by name."""
    files = sorted(DEMO_DIR.glob("*.jsonl.gz"))
    if not files:
        raise FileNotFoundError(f"no demo data under {DEMO_DIR}: is the package installed with its data?")
    return files


def iter_demo() -> Iterator[RawEvent]:
    """Every bundled demo event, file by file, each file's format detected from its content."""
    return iter_files(demo_files())
