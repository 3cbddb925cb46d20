"""`groundswell`: one CLI for every part. Settings come from GROUNDSWELL_* env vars and flags."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from groundswell.settings import Settings

if TYPE_CHECKING:
    from activity.raw import RawEvent
    from sources.simulate import Simulator
    from streams.produce import RawProducer


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {k: v for k, v in vars(args).items() if k in Settings.model_fields and v is not None}
    return Settings(**overrides)


def cmd_broker(settings: Settings, args: argparse.Namespace) -> int:
    from streams.broker import serve_broker

    serve_broker(settings)
    return 0


def cmd_graph_server(settings: Settings, args: argparse.Namespace) -> int:
    from graph.arcadedb_server import serve_forever

    serve_forever(settings, settings.data_dir / "graph.ready")
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from streams.worker import run_worker

    if args.role:
        settings = settings.model_copy(update={"worker_role": args.role})
    run_worker(settings)
    return 0


def cmd_api(settings: Settings, args: argparse.Namespace) -> int:
    from api.app import run_api

    run_api(settings)
    return 0


class Progress:
    """A line a second: how many sent, the rate, and time spent waiting on the workers."""

    def __init__(self, label: str, total: int | None = None) -> None:
        self.label, self.total = label, total
        self.started = self.last = time.monotonic()

    def __call__(self, sent: int) -> None:
        now = time.monotonic()
        if now - self.last >= 1.0:
            self.last = now
            rate = sent / max(now - self.started, 1e-9)
            of = f"/{self.total}" if self.total else ""
            print(f"  {self.label}: {sent}{of} events, {rate:,.0f}/s", flush=True)


def _producer(settings: Settings, max_lag: int) -> RawProducer:
    from groundswell.metrics import Metrics
    from streams.broker import resolve_bootstrap
    from streams.produce import RawProducer

    return RawProducer(
        resolve_bootstrap(settings),
        settings.consumer_groups,
        Metrics.create(),
        max_lag=max_lag,
        partitions=settings.partitions,
        max_payload_bytes=settings.max_payload_bytes,
    )


def replay(settings: Settings, paths: Sequence[Path], rate: float | None, max_lag: int) -> int:
    from sources.replay import iter_files, iter_paced

    producer = _producer(settings, max_lag)
    events: Iterable[RawEvent] = iter_files(list(paths))
    if rate:
        events = iter_paced(events, rate)
    sent = producer.send_all(events, Progress("replay"))
    producer.close()
    print(f"replayed {sent} events from {len(paths)} file(s) to social.raw", flush=True)
    return sent


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    replay(settings, [Path(p) for p in args.files], args.rate, args.max_lag)
    return 0


#: the simulator's seed, unless `simulate --seed` says otherwise (`up --simulate` uses it)
SIMULATOR_SEED = 7


def simulator(
    settings: Settings, seed: int, start_time: float | None = None, events_per_second: float = 50.0
) -> Simulator:
    """The simulator of this company's population (its name and handles from the settings)."""
    from sources.simulate import Simulator

    return Simulator(
        seed=seed,
        company_name=settings.company_name,
        company_handles=list(settings.company_keywords),
        start_time=start_time,
        events_per_second=events_per_second,
    )


def import_simulated_customers(settings: Settings, seed: int = SIMULATOR_SEED, topic_prefix: str = "") -> str:
    """`up --simulate`: the simulated people's CRM export (``Simulator.crm_export``) written to the
    data folder and imported as `import-customers` would (the running resolver links them to their
    accounts as the simulator's events arrive). -> a line for the console. ``topic_prefix``: tests
    keep their commands apart on a shared broker."""
    from identity.import_cli import run_import

    data = simulator(settings, seed).crm_export()
    path = settings.data_dir / "simulated-crm-customers.csv"
    path.write_bytes(data)
    code, report = asyncio.run(run_import(settings, path.name, data, False, topic_prefix))
    if code == 2:
        return f"not imported: {report['error']}"
    written = report["written"]
    return (
        f"{report['parsed']} customers from {path} ({written['created']} new, {written['updated']} changed, "
        f"{written['unchanged']} unchanged; {report['failed']} rows failed)"
    )


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from itertools import islice

    from sources.replay import iter_paced

    # live: event times start now and advance at the requested rate
    sim = simulator(settings, args.seed, start_time=time.time(), events_per_second=args.rate)
    events: Iterable[RawEvent] = iter(sim)
    if args.count:
        events = islice(events, args.count)
    producer = _producer(settings, args.max_lag)
    stop = _install_stop()
    progress = Progress("simulate", args.count)
    for raw in iter_paced(events, args.rate):
        if stop[0]:
            break
        producer.send(raw)
        progress(producer.sent)
    producer.close()
    print(f"simulated {producer.sent} events to social.raw", flush=True)
    return 0


def cmd_source(settings: Settings, args: argparse.Namespace) -> int:
    from sources.live.process import run_live_source
    from sources.live.registry import specs

    return run_live_source(settings, specs()[args.source], args)


def _install_stop() -> list[bool]:
    flag = [False]

    def handler(signum: int, frame: FrameType | None) -> None:
        flag[0] = True

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    if hasattr(signal, "SIGHUP"):  # POSIX: the terminal closed; stop the parts in order too
        signal.signal(signal.SIGHUP, handler)
    return flag


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    from groundswell.supervisor import StopRequested, Supervisor, http_ok
    from sources.samples import demo_files

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stop = _install_stop()
    sup = Supervisor(settings, stop_requested=lambda: stop[0])
    try:
        print("starting the embedded broker ...", flush=True)
        if settings.embedded_broker:
            settings.broker_address_file.unlink(missing_ok=True)
            sup.start("broker", "broker")
            sup.wait_for("broker", settings.broker_address_file.exists, 60)
        if settings.embedded_graph:
            print("starting the graph store (ArcadeDB over Bolt) ...", flush=True)
            ready = settings.data_dir / "graph.ready"
            ready.unlink(missing_ok=True)
            sup.start("graph-server", "graph-server")
            sup.wait_for("graph store", ready.exists, 180)
        print(f"starting {args.workers} ingest worker(s), a scoring worker and the API ...", flush=True)
        sup.start("api", "api")
        metrics_ports = [settings.worker_metrics_port + i for i in range(args.workers + 1)]
        roles = ["scoring"] + ["ingest"] * args.workers  # two Python processes use two cores (the GIL)
        for i, (role, port) in enumerate(zip(roles, metrics_ports, strict=True)):
            # one after the other: each joins a running group
            name = f"worker-{role}" + (f"-{i}" if role == "ingest" and args.workers > 1 else "")
            sup.start(name, "worker", "--role", role, env={"GROUNDSWELL_WORKER_METRICS_PORT": str(port)})
            sup.wait_for(f"{name} metrics", partial(http_ok, f"http://127.0.0.1:{port}/metrics"), 120)
        base = f"http://{settings.api_host}:{settings.api_port}"
        sup.wait_for("API", lambda: http_ok(base + "/readyz"), 120)
        if not args.no_demo:
            print("feeding the bundled real sample events ...", flush=True)
            replay(settings, demo_files(), None, max_lag=3000)
        if args.simulate:
            print("importing the simulated company's CRM customers (made up too) ...", flush=True)
            print(f"  {import_simulated_customers(settings)}", flush=True)
            sup.start("simulate", "simulate", "--rate", str(args.simulate))
        key_file = settings.data_dir / "api-admin.key"
        key_hint = (
            f"in {key_file} (cat it; create others at POST /admin/keys)"
            if key_file.exists()
            else "GROUNDSWELL_API_ADMIN_KEY"
        )
        print(
            "\nGroundswell is up.\n"
            f"  API docs        {base}/docs\n"
            f"  graph page      {base}/ui/\n"
            f"  influencers     {base}/influencers  (header X-API-Key)\n"
            f"  admin API key   {key_hint}\n"
            f"  API metrics     {base}/metrics  (an ops or admin key)\n"
            + "".join(f"  worker metrics  http://127.0.0.1:{port}/metrics\n" for port in metrics_ports)
            + f"  graph store     {settings.effective_graph_uri} (ArcadeDB studio: "
            f"http://127.0.0.1:{settings.arcadedb_http_port})\n"
            f"  logs            {settings.data_dir / 'logs'}\n"
            "Ctrl-C stops everything; the graph is kept for the next `up`.",
            flush=True,
        )
        while not stop[0]:
            sup.check_alive()
            time.sleep(0.5)
        print("stopping ...", flush=True)
        return 0
    except StopRequested as e:
        print(f"stopping (asked while waiting for {e}) ...", flush=True)
        return 130
    finally:
        sup.stop()


def cmd_import_customers(settings: Settings, args: argparse.Namespace) -> int:
    from identity.import_cli import cmd_import_customers as run

    return run(settings, args)


def cmd_query(settings: Settings, args: argparse.Namespace) -> int:
    from api.query_cli import cmd_query as run

    return run(settings, args)


def cmd_graph(settings: Settings, args: argparse.Namespace) -> int:
    """`groundswell graph migrate [--status]`: apply the versioned schema migrations, or list them."""
    import asyncio

    from graph import migrations
    from graph.store import GraphStore

    async def run() -> int:
        async with await GraphStore.connect(settings) as store:
            if not args.status:
                await store.setup()
            for st in await migrations.status(store):
                at = st.applied_at
                when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at)) if at else "-"
                print(f"{st.version:>5}  {st.state.value:<8} {when:<20} {st.owner:<10} {st.name}")
        return 0

    return asyncio.run(run())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="groundswell", description=__doc__)
    p.add_argument(
        "--data-dir", dest="data_dir", type=Path, help="state, logs, the embedded graph (default ./var)"
    )
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="everything embedded: broker, graph store, worker, API, demo data")
    up.add_argument("--no-demo", action="store_true", help="do not replay the bundled sample events")
    up.add_argument(
        "--workers",
        type=int,
        default=1,
        help="ingest worker processes (at most the 4 partitions), besides the one scoring worker",
    )
    up.add_argument(
        "--simulate", type=float, default=None, metavar="RATE", help="also run the simulator at RATE/s"
    )
    sub.add_parser("broker", help="host the embedded Kafka-protocol broker")
    sub.add_parser("graph-server", help="run embedded ArcadeDB with its Bolt endpoint")
    wk = sub.add_parser("worker", help="run a Faust worker (the stages of its role)")
    wk.add_argument(
        "--role",
        choices=("all", "ingest", "scoring"),
        default=None,
        help="ingest (normalize, graph, identity intake), scoring (ranking, priority, alerts, identity "
        "resolver) or all; default GROUNDSWELL_WORKER_ROLE, else all",
    )
    sub.add_parser("api", help="run the HTTP API")
    rp = sub.add_parser("replay", help="replay JSONL files (Jetstream, Mastodon, Reddit, X v2; .gz ok)")
    rp.add_argument("files", nargs="+")
    rp.add_argument(
        "--rate", type=float, default=None, help="events/s (default: as fast as the workers keep up)"
    )
    rp.add_argument(
        "--max-lag", type=int, default=3000, help="pause while a worker partition lags more (0: never)"
    )
    sp = sub.add_parser("simulate", help="synthetic firehose")
    sp.add_argument("--rate", type=float, default=100.0)
    sp.add_argument("--count", type=int, default=None)
    sp.add_argument("--seed", type=int, default=SIMULATOR_SEED)
    sp.add_argument("--max-lag", type=int, default=3000)
    from identity.import_cli import add_arguments as import_arguments

    import_arguments(sub.add_parser("import-customers", help="import a CRM contact export (CSV or JSON)"))
    from api.query_cli import add_query_commands

    add_query_commands(sub.add_parser("query", help="graph queries (JSON): top, person, ego, path, cypher"))
    gp = sub.add_parser("graph", help="graph store administration")
    gsub = gp.add_subparsers(dest="graph_command", required=True)
    mig = gsub.add_parser("migrate", help="apply the versioned schema migrations (constraints, indexes)")
    mig.add_argument("--status", action="store_true", help="only list the migrations and their state")
    src = sub.add_parser("source", help="a live firehose source as its own process (produces to social.raw)")
    live = src.add_subparsers(dest="source", required=True)
    from sources.live.registry import specs

    for name, spec in specs().items():
        spec.add_arguments(live.add_parser(name, help=spec.help))
    return p


COMMANDS = {
    "up": cmd_up,
    "broker": cmd_broker,
    "graph-server": cmd_graph_server,
    "worker": cmd_worker,
    "api": cmd_api,
    "replay": cmd_replay,
    "simulate": cmd_simulate,
    "source": cmd_source,
    "import-customers": cmd_import_customers,
    "graph": cmd_graph,
    "query": cmd_query,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = _settings(args)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.supervisor_pid and args.command != "up":
        from groundswell.parent_watch import stop_with_supervisor

        stop_with_supervisor(settings.supervisor_pid, args.command)
    return COMMANDS[args.command](settings, args)


if __name__ == "__main__":
    sys.exit(main())
