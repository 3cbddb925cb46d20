"""Processes as Linux's ``/proc`` shows them: which run, with what environment, command and parent.

Used to tell when the parts of one `groundswell up` are gone (``groundswell.parent_watch``) and by
the tests of that. Every function answers for this user's processes only (others' environments are
not readable), and :func:`readable` says whether there is a ``/proc`` to read at all (not on macOS:
the callers then fall back to waiting).
"""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc")


def readable() -> bool:
    return (PROC / "self" / "environ").is_file()


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state, ppid, ...); None: no such
    process. The name is in parentheses and may itself hold spaces and parentheses."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return stat.rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    """The process runs: it exists and is not a zombie (one whose parent was killed is reaped by
    init, or by nobody in a container; either way it is gone for our purpose)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def parent_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields is not None else None


def command_of(pid: int) -> list[str]:
    """The process's argv; empty when it is gone or not readable."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def running_with_env(entry: str) -> list[int]:
    """The running processes whose environment holds ``entry`` (``NAME=value``)."""
    wanted = entry.encode()
    found = []
    for proc in PROC.iterdir():
        if not proc.name.isdigit():
            continue
        try:
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted in env and alive(int(proc.name)):
            found.append(int(proc.name))
    return found
