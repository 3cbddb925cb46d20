"""The end-to-end benchmark's raw events: the bundled real sample once, then the simulator's mix
(Jetstream / Mastodon / X / Reddit, the same people on several networks, company mentions)."""

from __future__ import annotations

import time

from activity.raw import RawEvent
from groundswell.settings import Settings
from sources.replay import iter_files
from sources.samples import demo_files
from sources.simulate import Simulator


def stream_mix(settings: Settings, simulated: int) -> tuple[list[RawEvent], int]:
    """-> (the real sample then ``simulated`` simulated events, how many of them are real)."""
    sim = Simulator(
        seed=11,
        company_name=settings.company_name,
        company_handles=settings.company_keywords,
        n_people=20_000,
        start_time=time.time(),
    )
    real = list(iter_files(demo_files()))
    return real + sim.take(simulated), len(real)
