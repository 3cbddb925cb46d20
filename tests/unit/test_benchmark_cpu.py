"""The end-to-end benchmark's CPU accounting: the JVM's JIT compiler threads counted apart."""

from __future__ import annotations

import os
import time
from pathlib import Path

from benchmarks.end_to_end import cpu_seconds, jit_seconds


def _task(root: Path, pid: int, tid: int, name: str, utime: int, stime: int) -> None:
    task = root / str(pid) / "task" / str(tid)
    task.mkdir(parents=True)
    (task / "comm").write_text(name + "\n")
    # the fields after the command in parentheses (which may hold spaces and parentheses itself)
    rest = ["S"] + ["0"] * 10 + [str(utime), str(stime)] + ["0"] * 5
    (task / "stat").write_text(f"{tid} ({name}) " + " ".join(rest) + "\n")


def test_only_the_compiler_threads_count_as_jit(tmp_path: Path) -> None:
    hz = os.sysconf("SC_CLK_TCK")
    _task(tmp_path, 7, 8, "C2 CompilerThre", 3 * hz, hz)
    _task(tmp_path, 7, 9, "C1 CompilerThre", hz, 0)
    _task(tmp_path, 7, 10, "BOLT-/127.0.0.1", 50 * hz, 0)
    _task(tmp_path, 7, 11, "x (C2 CompilerThre)", 9 * hz, 0)  # a name that only contains it
    assert jit_seconds(7, proc=tmp_path) == 5.0
    assert jit_seconds(99, proc=tmp_path) == 0.0  # a process that is gone


def test_this_process_has_used_some_cpu_and_no_jit() -> None:
    assert cpu_seconds(os.getpid()) > 0.0
    assert jit_seconds(os.getpid()) == 0.0


def test_a_process_cpu_includes_its_children_once_they_are_waited_for() -> None:
    before = cpu_seconds(os.getpid())
    pid = os.fork()
    if pid == 0:  # the child: spend ~0.3 s of CPU, then leave without any cleanup
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass
        os._exit(0)
    os.waitpid(pid, 0)
    assert cpu_seconds(os.getpid()) - before >= 0.25
