"""The live sources the CLI knows: ``groundswell source NAME``. Each module named here exposes
``SPEC: SourceSpec``; a module that cannot be imported is left out of the CLI (and says why)."""

from __future__ import annotations

import argparse
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from groundswell.settings import Settings
from sources.live.base import LiveSource

log = logging.getLogger(__name__)

MODULES = {
    "bluesky": "sources.live.jetstream",
    "mastodon": "sources.live.mastodon",
    "reddit": "sources.live.reddit",
    "x": "sources.live.x",
}


@dataclass(frozen=True)
class SourceSpec:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    #: (settings, parsed args, saved cursor or None) -> a connector resuming from that cursor
    build: Callable[[Settings, argparse.Namespace, str | None], LiveSource]


def specs() -> dict[str, SourceSpec]:
    found: dict[str, SourceSpec] = {}
    for name, module in MODULES.items():
        try:
            spec = importlib.import_module(module).SPEC
        except (ImportError, AttributeError) as e:
            log.debug("live source %s unavailable: %r", name, e)
            continue
        found[name] = spec
    return found
