"""`groundswell import-customers FILE`: a CRM export into the graph, resolved by the running workers.

The customers are written to the graph here (idempotent: a re-import changes nothing) and handed
to the resolver owner through ``identity.commands``, so the one-resolver rule holds while workers
run (streams/identity_agent.py). ``--resolve-here`` resolves in this process instead, for a graph
with NO worker running (it loads the model and rebuilds the index from the graph first).
Prints the report (JSON); the exit status is 0 when every row was imported, 1 when some failed,
2 when the file could not be read at all.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from graph.store import GraphStore
from groundswell.metrics import Metrics
from groundswell.settings import Settings
from identity.crm_import import ImportFormatError, parse_file
from identity.service import IdentityService


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="CSV or JSON contact export (Salesforce, HubSpot, Pipedrive, ...)")
    p.add_argument(
        "--resolve-here",
        action="store_true",
        help="resolve in this process (only when no worker is running)",
    )


async def run_import(
    settings: Settings, name: str, data: bytes, resolve_here: bool, topic_prefix: str = ""
) -> tuple[int, dict[str, Any]]:
    """-> (exit status, report). ``topic_prefix``: tests keep their commands apart on a shared broker."""
    try:
        parsed = parse_file(name, data)
    except ImportFormatError as e:
        return 2, {"error": str(e), "file": name}
    metrics = Metrics.create()
    if resolve_here:
        from streams.identity_agent import default_service

        service = await default_service(settings, metrics)
        await service.warm()
        sender = None
    else:
        from streams.broker import resolve_bootstrap
        from streams.identity_sender import CommandSender

        sender = CommandSender(resolve_bootstrap(settings), topic_prefix)
        store = await GraphStore.connect(settings, metrics)
        service = IdentityService(store, submit=sender.submit, audit=sender.publish)
        await service.setup()
    try:
        report = (await service.import_customers(parsed, cause=f"cli:{name}")).to_dict()
    finally:
        await service.store.close()
    return (1 if report["failed"] else 0), report


def cmd_import_customers(settings: Settings, args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        data = path.read_bytes()
    except OSError as e:
        sys.stderr.write(f"cannot read {path}: {e}\n")
        return 2
    code, report = asyncio.run(run_import(settings, path.name, data, args.resolve_here))
    sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    return code
