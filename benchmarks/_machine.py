"""What machine a benchmark ran on, printed with its results: the same 2-core kind has been an Intel
Xeon with AMX on some days and an AMD EPYC without it on others, and the model's speed differs ~3x
between them (benchmarks/RESULTS.md), so a number means little without this line."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_flags(cpuinfo: str) -> set[str]:
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def cpu_model(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return "unknown CPU"


def describe(cpuinfo_path: Path = Path("/proc/cpuinfo")) -> str:
    """``"<model>, <n> cores, bf16 units: AMX|AVX-512 BF16|none"``."""
    try:
        info = cpuinfo_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"unknown CPU, {os.cpu_count()} cores"
    flags = cpu_flags(info)
    if "amx_bf16" in flags:
        bf16 = "AMX"
    elif "avx512_bf16" in flags:
        bf16 = "AVX-512 BF16 (no AMX)"
    else:
        bf16 = "none"
    return f"{cpu_model(info)}, {os.cpu_count()} cores, bf16 units: {bf16}"
