"""What machine a benchmark ran on, printed with its results: the same 2-core kind has been an Intel
Xeon with AMX on some days and an AMD EPYC without it on others, and the model's speed differs ~3x
between them (benchmarks/RESULTS.md), so a number means little without this line."""

from __future__ import annotations

import os
from pathlib import Path


def cpuinfo_field(cpuinfo: str, name: str) -> str | None:
    """The value of the first ``name : value`` line of /proc/cpuinfo's text."""
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == name:
            return value.strip()
    return None


def describe(cpuinfo_path: Path = Path("/proc/cpuinfo")) -> str:
    """``"<model>, <n> cores, bf16 units: AMX|AVX-512 BF16|none"``."""
    try:
        info = cpuinfo_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"unknown CPU, {os.cpu_count()} cores"
    flags = set((cpuinfo_field(info, "flags") or "").split())
    if "amx_bf16" in flags:
        bf16 = "AMX"
    elif "avx512_bf16" in flags:
        bf16 = "AVX-512 BF16 (no AMX)"
    else:
        bf16 = "none"
    model = cpuinfo_field(info, "model name") or "unknown CPU"
    return f"{model}, {os.cpu_count()} cores, bf16 units: {bf16}"
