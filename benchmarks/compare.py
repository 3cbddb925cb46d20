"""The end-to-end benchmark on two versions side by side: this working tree ("head") against a
base revision, interleaved, medians and their ratio.

One flat-out run on these machines swings by up to 30 % from the next with the same code
(benchmarks/RESULTS.md), so a change is only told apart from the drift by runs of both versions
taken in turns, in one session. This does it in one command:
1. checks the base revision out into a temporary git worktree (removed at the end);
2. runs ``benchmarks.end_to_end`` ``--runs`` times for each side, in the order head, base, base,
   head, head, base, ... (each pair swaps its order, so a trend through the session weighs on both
   sides alike), each with the same arguments (what follows ``--``), each version's own code in its
   own worker processes;
3. prints a line per run, then a Markdown table: every run in order, each side's median and range
   of raw events/s and of the CPU per raw event (all parts and each part), and head/base.

    python -m benchmarks.compare --base HEAD~1 --runs 3 -- --seconds 40

"head" is the working tree as it is, uncommitted changes included. The raw numbers go to
``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._machine import describe

REPO = Path(__file__).resolve().parents[1]
SIDES = ("head", "base")
#: end_to_end's progress lines ("   35s sent   24550  graph    34383  alerts 843") and its set-up steps
PROGRESS = re.compile(r"^\s*\d+s sent |^(broker|generating|ceiling|\d+ events ready)")


def run_order(runs: int) -> list[str]:
    """``runs`` runs of each side, each pair's order swapped: head, base, base, head, head, base..."""
    order: list[str] = []
    for i in range(runs):
        order.extend(SIDES if i % 2 == 0 else reversed(SIDES))
    return order


@dataclass(frozen=True)
class Run:
    side: str
    raw_events_per_s: float
    cpu_ms: dict[str, float]  # per raw event, by part

    @property
    def cpu_ms_all(self) -> float:
        return sum(self.cpu_ms.values())

    @classmethod
    def from_result(cls, side: str, result: dict[str, Any]) -> Run:
        """From ``benchmarks.end_to_end``'s JSON."""
        cpu = {str(k): float(v) for k, v in result["cpu_ms_per_raw_event"].items()}
        return cls(side, float(result["end_to_end_raw_events_per_s"]), cpu)


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values))


def summary(runs: Sequence[Run]) -> dict[str, dict[str, Spread]]:
    """side -> measure (``raw_events_per_s``, ``cpu_ms_all``, ``cpu_ms.<part>``) -> its spread."""
    out: dict[str, dict[str, Spread]] = {}
    for side in SIDES:
        mine = [r for r in runs if r.side == side]
        if not mine:
            continue
        measures = {
            "raw_events_per_s": Spread.of([r.raw_events_per_s for r in mine]),
            "cpu_ms_all": Spread.of([r.cpu_ms_all for r in mine]),
        }
        for part in mine[0].cpu_ms:
            measures[f"cpu_ms.{part}"] = Spread.of([r.cpu_ms.get(part, 0.0) for r in mine])
        out[side] = measures
    return out


def table(runs: Sequence[Run], base: str) -> str:
    """Markdown: the runs in order, then each measure's medians (ranges) and head/base."""
    parts = list(runs[0].cpu_ms) if runs else []
    lines = [
        "| run order | raw events/s | CPU per raw event: " + " / ".join(parts) + " = all |",
        "|---|---|---|",
    ]
    for r in runs:
        cpu = " / ".join(f"{r.cpu_ms.get(p, 0.0):.2f}" for p in parts)
        label = "head" if r.side == "head" else f"base ({base})"
        lines.append(f"| {label} | {r.raw_events_per_s:,.0f} | {cpu} = {r.cpu_ms_all:.2f} ms |")
    s = summary(runs)
    lines += [
        "",
        "| measure | head: median (range) | base: median (range) | head / base |",
        "|---|---|---|---|",
    ]
    if all(side in s for side in SIDES):
        for measure, head in s["head"].items():
            b = s["base"][measure]
            ratio = f"{head.median / b.median:.3f}" if b.median else "-"
            fmt = ",.0f" if measure == "raw_events_per_s" else ".2f"
            lines.append(
                f"| {measure} | {head.median:{fmt}} ({head.low:{fmt}}–{head.high:{fmt}}) "
                f"| {b.median:{fmt}} ({b.low:{fmt}}–{b.high:{fmt}}) | {ratio} |"
            )
    return "\n".join(lines)


def run_once(side: str, cwd: Path, bench_args: list[str], out: Path) -> Run:
    """One ``end_to_end`` run; its progress lines are passed on as they come."""
    cmd = [sys.executable, "-m", "benchmarks.end_to_end", *bench_args, "--out", str(out)]
    lines: list[str] = []
    with subprocess.Popen(
        cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if PROGRESS.match(line):
                print(f"  {side}: {line.strip()}", flush=True)
    if proc.returncode != 0 or not out.exists():
        tail = "".join(lines)[-3000:]
        raise RuntimeError(f"the {side} run failed (exit {proc.returncode}):\n{tail}")
    return Run.from_result(side, json.loads(out.read_text()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the revision to compare with (git rev)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each side")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "compare.json")
    ap.add_argument("bench_args", nargs="*", help="after --: the arguments of benchmarks.end_to_end")
    args = ap.parse_args(argv)
    rev = subprocess.run(
        ["git", "rev-parse", "--short", args.base], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    order = run_order(args.runs)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="gs-compare-") as tmp:
        worktree = Path(tmp) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--quiet", str(worktree), rev], cwd=REPO, check=True
        )
        try:
            for i, side in enumerate(order):
                print(f"run {i + 1}/{len(order)}: {side} ...", flush=True)
                r = run_once(
                    side, REPO if side == "head" else worktree, args.bench_args, Path(tmp) / f"{i}.json"
                )
                runs.append(r)
                print(
                    f"  {r.raw_events_per_s:,.0f} raw events/s, {r.cpu_ms_all:.2f} ms of CPU a raw event",
                    flush=True,
                )
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO, check=False)
    print(f"\nmachine: {describe()}; base {rev}; end_to_end {' '.join(args.bench_args) or '(defaults)'}\n")
    print(table(runs, rev))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "base": rev,
                "bench_args": args.bench_args,
                "runs": [
                    {"side": r.side, "raw_events_per_s": r.raw_events_per_s, "cpu_ms": r.cpu_ms} for r in runs
                ],
            },
            indent=2,
        )
    )
    print(f"\nraw numbers: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
