"""The machine line every benchmark prints: the CPU model and which bf16 units it has."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks._machine import describe

XEON = "model name\t: Intel(R) Xeon(R) Platinum 8481C\nflags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\n"
EPYC = "model name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n"
OLD = "model name\t: Intel(R) Xeon(R) CPU E5-2680\nflags\t\t: fpu avx avx2\n"


@pytest.mark.parametrize(
    ("cpuinfo", "model", "units"),
    [
        (XEON, "Intel(R) Xeon(R) Platinum 8481C", "AMX"),
        (EPYC, "AMD EPYC", "AVX-512 BF16 (no AMX)"),
        (OLD, "Intel(R) Xeon(R) CPU E5-2680", "none"),
    ],
)
def test_cpu_model_and_bf16_units(tmp_path: Path, cpuinfo: str, model: str, units: str) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text(cpuinfo)
    line = describe(path)
    assert line.startswith(model + ", ") and line.endswith("bf16 units: " + units)


def test_unreadable_cpuinfo_says_so(tmp_path: Path) -> None:
    assert describe(tmp_path / "missing").startswith("unknown CPU")
