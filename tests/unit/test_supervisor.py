"""`groundswell up`'s supervisor: a stop asked for while it waits for a part ends the wait at once,
and every part it starts learns its pid (to stop by itself once `up` is gone)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from groundswell.settings import Settings
from groundswell.supervisor import StopRequested, Supervisor


def test_a_stop_during_the_start_ends_the_wait_for_a_part(tmp_path: Path) -> None:
    asked = [False]
    sup = Supervisor(Settings(data_dir=tmp_path), stop_requested=lambda: asked[0])
    checks = []

    def ready() -> bool:
        checks.append(time.monotonic())
        asked[0] = len(checks) >= 3  # Ctrl-C while the part is still starting
        return False

    with pytest.raises(StopRequested, match="the graph store"):
        sup.wait_for("the graph store", ready, timeout=60)
    assert len(checks) == 3


def test_the_parts_are_told_the_supervisors_pid(tmp_path: Path) -> None:
    env = Supervisor(Settings(data_dir=tmp_path))._env()
    assert env["GROUNDSWELL_SUPERVISOR_PID"] == str(os.getpid())
    assert Settings(supervisor_pid=int(env["GROUNDSWELL_SUPERVISOR_PID"])).supervisor_pid == os.getpid()
