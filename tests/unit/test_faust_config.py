"""The product's settings reach the Faust app that the workers run."""

from __future__ import annotations

from pathlib import Path

import faust
import pytest

from groundswell.settings import Settings
from streams.faust_config import faust_settings


def test_commit_interval_reaches_faust(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GROUNDSWELL_COMMIT_INTERVAL_SECONDS", "0.4")
    settings = Settings(data_dir=tmp_path)
    app = faust.App("commit-interval-test", **faust_settings(settings, "127.0.0.1:9"))
    assert app.conf.broker_commit_interval == pytest.approx(0.4)


def test_commit_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        Settings(commit_interval_seconds=0)
