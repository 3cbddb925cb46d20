"""Sources: pure producers of :class:`activity.raw.RawEvent` (file replay, the simulator, demo samples).

Producing them to Kafka is the caller's business; nothing here does I/O beyond reading files.
"""

from sources.replay import classify, detect_format, detect_payload, iter_file, iter_files, iter_paced
from sources.samples import demo_files, iter_demo
from sources.simulate import Simulator, Truth

__all__ = [
    "Simulator",
    "Truth",
    "classify",
    "demo_files",
    "detect_format",
    "detect_payload",
    "iter_demo",
    "iter_file",
    "iter_files",
    "iter_paced",
]
