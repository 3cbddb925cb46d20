"""An append-only journal of the records a stage applied since its last snapshot, in segments.

The ranker (``streams.ranking``) snapshots its engine now and then; Faust commits the offsets of the
records it processed on its own schedule. A ranker killed between the two would resume after
records its snapshot does not hold. So each record is appended here before it is applied (one
``write`` each, unbuffered: a killed process loses nothing it wrote), and a restart replays the
journal (what the snapshot already holds repeats only edge keys the engine has seen).

Segments: ``rotate`` closes the open segment when a snapshot is taken; once that snapshot is
written, ``drop`` deletes the segments closed before it (a failed snapshot keeps them for the next
one). An entry is ``offset`` (8 bytes) + length (4 bytes) + the record; a torn last entry (the
process killed mid-write) is ignored on replay.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">qI")


class Journal:
    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder
        self.name = name
        self._open: BinaryIO | None = None
        self._number = max((self._number_of(p) for p in self.segments()), default=0)

    def _number_of(self, path: Path) -> int:
        return int(path.name.rsplit(".", 1)[1])

    def segments(self) -> list[Path]:
        """The segments on disk, oldest first."""
        found = [p for p in self.folder.glob(f"{self.name}.*") if p.name.rsplit(".", 1)[1].isdigit()]
        return sorted(found, key=self._number_of)

    def append(self, offset: int, record: bytes) -> None:
        if self._open is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._number += 1
            path = self.folder / f"{self.name}.{self._number:08d}"
            self._open = open(path, "ab", buffering=0)  # noqa: SIM115 - kept open across appends
        self._open.write(_HEADER.pack(offset, len(record)) + record)

    def rotate(self) -> list[Path]:
        """Close the open segment; -> every closed segment on disk (what a snapshot taken now covers)."""
        self.close()
        return self.segments()

    def drop(self, segments: list[Path]) -> None:
        """Delete segments a written snapshot covers."""
        for path in segments:
            path.unlink(missing_ok=True)

    def replay(self) -> Iterator[tuple[int, bytes]]:
        """Every entry on disk, oldest first; a torn entry ends its segment."""
        for path in self.segments():
            data = path.read_bytes()
            at = 0
            while at + _HEADER.size <= len(data):
                offset, size = _HEADER.unpack_from(data, at)
                start = at + _HEADER.size
                if start + size > len(data):
                    log.warning("journal %s: a torn last entry (%d bytes) ignored", path, len(data) - at)
                    break
                yield offset, data[start : start + size]
                at = start + size

    def close(self) -> None:
        if self._open is not None:
            self._open.close()
            self._open = None
