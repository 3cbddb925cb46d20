"""`groundswell up`, the command `make run` runs, as a user runs it: every part started embedded,
the bundled sample fed, the API answering with the admin key it wrote, Ctrl-C stopping every
process it started, and the graph kept for the next `up` (README "Two commands")."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

from graph.arcadedb_server import free_port, spawn, stop_spawned
from graph.store import GraphStore
from groundswell.processes import running_with_env
from groundswell.settings import Settings
from streams.produce import BACKPRESSURE_TOPICS, LagProbe
from tests.fixtures.waiting import eventually

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def two_free_ports() -> int:
    """A free port whose next one is free too (`up` gives its second worker the next port)."""
    while True:
        port = free_port()
        try:
            with socket.create_server(("127.0.0.1", port + 1)):
                return port
        except OSError:
            continue


def get(url: str, key: str | None = None) -> Any:
    request = urllib.request.Request(url, headers={"X-API-Key": key} if key else {})
    with urllib.request.urlopen(request, timeout=10) as r:
        body = r.read()
    return orjson.loads(body) if body[:1] in (b"{", b"[") else body.decode()


def graph_counts(settings: Settings) -> dict[str, int]:
    async def read() -> dict[str, int]:
        async with await GraphStore.connect(settings) as store:
            return await store.counts()

    return asyncio.run(read())


def without_persons(counts: dict[str, int]) -> dict[str, int]:
    """The counts the identity resolver does not change."""
    return {k: v for k, v in counts.items() if k not in ("Person", "ACCOUNT_OF")}


def stored_influencers(settings: Settings) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        async with await GraphStore.connect(settings) as store:
            return await store.top_influencers(5)

    return asyncio.run(read())


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the parts' processes in /proc")
def test_up_runs_every_part_on_the_sample_and_ctrl_c_stops_them_all_keeping_the_graph(tmp_path: Path) -> None:
    data_dir = (tmp_path / "var").resolve()
    settings = Settings(
        data_dir=data_dir,
        api_port=free_port(),
        worker_metrics_port=two_free_ports(),
        arcadedb_http_port=free_port(),
        arcadedb_bolt_port=free_port(),
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUNDSWELL_")}
    env.update(
        GROUNDSWELL_DATA_DIR=str(data_dir),
        GROUNDSWELL_API_PORT=str(settings.api_port),
        GROUNDSWELL_WORKER_METRICS_PORT=str(settings.worker_metrics_port),
        GROUNDSWELL_ARCADEDB_HTTP_PORT=str(settings.arcadedb_http_port),
        GROUNDSWELL_ARCADEDB_BOLT_PORT=str(settings.arcadedb_bolt_port),
    )
    up = subprocess.Popen(
        [sys.executable, "-m", "groundswell.cli", "up"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a shell gives a command it runs
    )
    lines: list[str] = []
    stdout = up.stdout
    assert stdout is not None

    def read() -> None:
        for line in stdout:
            lines.append(line.decode())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def alive() -> None:
        assert up.poll() is None, "`up` exited:\n" + "".join(lines)

    try:
        eventually("`up` to say it is up", lambda: "Groundswell is up.\n" in lines, 300, alive=alive)
        replayed = int(re.search(r"replayed (\d+) events", "".join(lines))[1])  # type: ignore[index]
        assert replayed > 500
        key = (data_dir / "api-admin.key").read_text().strip()
        api = f"http://127.0.0.1:{settings.api_port}"
        assert get(api + "/readyz")["ready"] is True
        with pytest.raises(urllib.error.HTTPError, match="401"):
            get(api + "/influencers")
        # every sample event reached normalize in the ingest worker (the port after the scorer's)
        ingest_metrics = f"http://127.0.0.1:{settings.worker_metrics_port + 1}/metrics"

        def normalized() -> float:
            return sum(
                float(line.rpartition(" ")[2])
                for line in get(ingest_metrics).splitlines()
                if line.startswith("groundswell_events_in_total{") and 'stage="normalize"' in line
            )

        eventually("the sample to be normalized", lambda: normalized() >= replayed, 120, alive=alive)
        assert normalized() == replayed
        top = eventually(
            "influencers", lambda: get(api + "/influencers?limit=5", key)["influencers"], 120, alive=alive
        )
        assert all(t["id"].split(":", 1)[0] in ("bluesky", "mastodon", "reddit", "x") for t in top)

        # idle but for the identity resolver (it resolves the sample's ~700 accounts for a minute
        # or so, niced, after its warm-up; a stop in the middle of that is what a user does too):
        # nothing left to consume on the other topics, and the graph's counts unchanged since the
        # last look, persons aside
        probe = LagProbe(
            (data_dir / "broker.address").read_text().strip(),
            settings.consumer_groups,
            settings.partitions,
            topics=BACKPRESSURE_TOPICS,
        )
        last: list[dict[str, int]] = []

        def idle() -> dict[str, int] | None:
            if probe.max_lag() != 0:
                return None
            counts = graph_counts(settings)
            last.append(counts)
            return counts if len(last) > 1 and without_persons(last[-2]) == without_persons(counts) else None

        try:
            before = eventually("the pipeline to be idle", idle, 180, alive=alive)
        finally:
            probe.close()
        assert before["Account"] > 100 and before["Post"] > 100

        # Ctrl-C in a terminal: SIGINT to the command's process group (the parts have their own)
        os.killpg(up.pid, signal.SIGINT)
        assert up.wait(120) == 0, "".join(lines)
        reader.join(10)
        assert "stopping ...\n" in lines
        left = running_with_env(f"GROUNDSWELL_DATA_DIR={data_dir}")
        assert not left, f"still running after `up` stopped: {left}"
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
    logs = {p.name: p.read_text(errors="replace") for p in (data_dir / "logs").glob("*.log")}
    parts = {"broker", "graph-server", "api", "worker-scoring", "worker-ingest"}
    assert {f"{part}.log" for part in parts} <= set(logs)
    assert not [name for name, text in logs.items() if "Traceback" in text]

    # the next `up` finds the graph as it was: the same store, started on the same data_dir
    store = spawn(settings)
    try:
        after = graph_counts(settings)
        assert without_persons(after) == without_persons(before)
        assert after["Person"] >= before["Person"] and after["ACCOUNT_OF"] >= before["ACCOUNT_OF"]
        assert len(stored_influencers(settings)) == len(top)
    finally:
        stop_spawned(store)
