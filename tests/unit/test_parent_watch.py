"""A part started by `groundswell up` stops once `up` is gone: a real parent process is killed
(SIGKILL) and its child, watching with ``stop_with_parent``, stops by SIGTERM, or is killed when
it ignores that; the broker stops once `up`'s other parts are gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from groundswell.parent_watch import INFRASTRUCTURE_DELAY_S, clients_of
from groundswell.processes import alive

REPO = Path(__file__).resolve().parents[2]

#: the child: watches its parent, says it is ready, then waits; on SIGTERM it writes "stopped" and
#: exits, unless told to ignore SIGTERM
CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    from groundswell.parent_watch import stop_with_parent
    out, ignore = sys.argv[1], sys.argv[2] == "ignore"
    def on_term(signum, frame):
        if not ignore:
            with open(out, "a") as f:
                f.write("stopped\\n")
            sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    stop_with_parent(os.getppid(), delay_s=0.3, kill_after_s=0.5, interval_s=0.05)
    with open(out, "a") as f:
        f.write("watching\\n")
    while True:
        time.sleep(0.05)
    """
)

#: the parent: starts the child, prints its pid, waits to be killed
PARENT = textwrap.dedent(
    """
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2], sys.argv[3]])
    print(child.pid, flush=True)
    time.sleep(600)
    """
)


def wait_gone(pid: int, timeout: float) -> float:
    started = time.monotonic()
    while alive(pid):
        assert time.monotonic() - started < timeout, f"process {pid} still runs after {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - started


def run_orphaned(tmp_path: Path, mode: str) -> tuple[float, list[str]]:
    """Kill a parent whose child watches it -> (seconds until the child was gone, its lines)."""
    out = tmp_path / "child.out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, CHILD, str(out), mode], stdout=subprocess.PIPE, env=env
    )
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        deadline = time.monotonic() + 30
        while "watching" not in (out.read_text() if out.exists() else ""):
            assert time.monotonic() < deadline, "the child did not start watching"
            time.sleep(0.05)
        time.sleep(0.5)
        assert alive(child_pid), "the child stopped while its parent was alive"
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        took = wait_gone(child_pid, 20)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    return took, out.read_text().split()


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_a_part_stops_by_sigterm_once_its_parent_is_killed(tmp_path: Path) -> None:
    took, lines = run_orphaned(tmp_path, "stop")
    assert lines == ["watching", "stopped"]
    assert took >= 0.3  # the delay asked for


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_a_part_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    took, lines = run_orphaned(tmp_path, "ignore")
    assert lines == ["watching"]
    assert took >= 0.3 + 0.5


#: a part of a made-up `up`: argv ``-c CODE groundswell.cli PART OUT`` (what ``part_of`` reads).
#: A broker watches like the real one (stop_with_supervisor); a worker outlives `up` by 2 s, the way
#: a Faust worker takes a while to stop.
PART = textwrap.dedent(
    """
    import os, signal, sys, time
    from groundswell.parent_watch import stop_with_supervisor
    part, out = sys.argv[2], sys.argv[3]
    up = os.getppid()
    def say(line):
        with open(out, "a") as f:
            f.write(f"{part} {line}\\n")
    def on_term(signum, frame):
        say("stopped")
        sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    if part == "broker":
        stop_with_supervisor(up, part)
    say("ready")
    while os.getppid() == up:
        time.sleep(0.05)
    if part == "worker":
        time.sleep(2.0)
        say("stopped")
        sys.exit(0)
    while True:
        time.sleep(0.05)
    """
)

#: the made-up `up`: starts its parts with its pid in their environment, prints theirs, waits
UP = textwrap.dedent(
    """
    import os, subprocess, sys, time
    env = {**os.environ, "GROUNDSWELL_SUPERVISOR_PID": str(os.getpid())}
    for part in ("broker", "worker"):
        argv = [sys.executable, "-c", sys.argv[1], "groundswell.cli", part, sys.argv[2]]
        p = subprocess.Popen(argv, env=env)
        print(p.pid, flush=True)
    time.sleep(600)
    """
)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_the_broker_stops_once_ups_other_parts_are_gone_not_a_fixed_delay_later(tmp_path: Path) -> None:
    out = tmp_path / "parts.out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    up = subprocess.Popen([sys.executable, "-c", UP, PART, str(out)], stdout=subprocess.PIPE, env=env)
    try:
        assert up.stdout is not None
        broker, worker = int(up.stdout.readline()), int(up.stdout.readline())
        deadline = time.monotonic() + 30
        while (out.read_text() if out.exists() else "").count("ready") < 2:
            assert time.monotonic() < deadline, "the parts did not start"
            time.sleep(0.05)
        assert clients_of(up.pid) == [worker]  # the broker is not its own client
        up.send_signal(signal.SIGKILL)
        up.wait()
        worker_gone = wait_gone(worker, 20)  # seconds after up's kill
        broker_gone = worker_gone + wait_gone(broker, 20)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    assert out.read_text().splitlines()[-2:] == ["worker stopped", "broker stopped"]
    assert worker_gone >= 2.0
    # it waited for the worker, not the full INFRASTRUCTURE_DELAY_S
    assert worker_gone <= broker_gone < worker_gone + 5.0 < INFRASTRUCTURE_DELAY_S
