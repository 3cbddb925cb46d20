"""`groundswell query ...`: the marketers' graph queries from the command line, straight against the
graph store (the same functions the API serves; JSON on stdout).

    groundswell query top [--limit N] [--hashtag TAG] [--topic WORD] [--customers] [--within-hops N]
    groundswell query person ID          # 360 view of a person (or of an account's person)
    groundswell query ego ID [--depth D] [--cap N]
    groundswell query path FROM [TO]     # TO defaults to the company
    groundswell query communities [--around ID]
    groundswell query search TEXT
    groundswell query cypher 'MATCH ... RETURN ...'   # read-only: writes refused, timeout, row cap
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from graph import queries
from graph.person_view import person_360
from graph.readonly import QueryFailed, QueryTimeout, readonly_cypher
from graph.store import GraphStore
from groundswell.settings import Settings


def add_query_commands(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="query", required=True)
    top = sub.add_parser("top", help="top influencers")
    top.add_argument("--limit", type=int, default=20)
    top.add_argument("--hashtag", default=None)
    top.add_argument("--topic", default=None)
    top.add_argument("--network", default=None)
    top.add_argument("--customers", action="store_true", help="customers only")
    top.add_argument("--within-hops", type=int, default=None, help="within N hops of the company")
    sub.add_parser("person", help="a person's 360 view").add_argument("id")
    ego = sub.add_parser("ego", help="ego network")
    ego.add_argument("id")
    ego.add_argument("--depth", type=int, default=2)
    ego.add_argument("--cap", type=int, default=200)
    path = sub.add_parser("path", help="shortest paths (to the company by default)")
    path.add_argument("source")
    path.add_argument("target", nargs="?", default=None)
    com = sub.add_parser("communities", help="communities around a node (the company by default)")
    com.add_argument("--around", default=None)
    sub.add_parser("search", help="find persons and accounts").add_argument("text")
    cy = sub.add_parser("cypher", help="read-only Cypher (writes refused, timeout, row cap)")
    cy.add_argument("text")
    cy.add_argument("--params", default="{}", help="JSON object of parameters")


async def run_query(settings: Settings, args: argparse.Namespace) -> Any:
    half_life_s = settings.influence_half_life_hours * 3600.0
    async with await GraphStore.connect(settings) as store:
        if args.query == "top":
            return await queries.top_influencers(
                store,
                limit=args.limit,
                hashtag=args.hashtag,
                topic=args.topic,
                customers_only=args.customers,
                within_hops_of_company=args.within_hops,
                network=args.network,
                company_id=settings.company_id,
                company_accounts=settings.company_accounts,
                half_life_s=half_life_s,
            )
        if args.query == "person":
            return await person_360(
                store,
                args.id,
                company_id=settings.company_id,
                company_accounts=settings.company_accounts,
                half_life_s=half_life_s,
            )
        if args.query == "ego":
            return await queries.ego_network(
                store,
                args.id,
                args.depth,
                args.cap,
                half_life_s=half_life_s,
                influencer_min=settings.influencer_min_engagement,
            )
        if args.query == "path":
            return await queries.shortest_path(store, args.source, args.target or settings.company_id)
        if args.query == "communities":
            return await queries.communities(
                store, args.around, company_id=settings.company_id, half_life_s=half_life_s
            )
        if args.query == "search":
            return await queries.search_nodes(store, args.text, half_life_s=half_life_s)
        params = json.loads(args.params)
        if not isinstance(params, dict):
            raise queries.QueryError("--params must be a JSON object")
        return await readonly_cypher(
            store, args.text, params, timeout_s=settings.cypher_timeout_s, row_limit=settings.cypher_row_limit
        )


def cmd_query(settings: Settings, args: argparse.Namespace) -> int:
    """Print the result as JSON; exit 1 when there is nothing (an unknown id), 2 on a refused or
    bad query (with the reason on stderr)."""
    try:
        result = asyncio.run(run_query(settings, args))
    except (ValueError, QueryFailed, QueryTimeout) as e:  # QueryError, ReadOnlyViolation, bad JSON
        print(f"groundswell query: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, default=str, ensure_ascii=False))
    return 0 if result is not None else 1
