"""Every line of every real capture: each yields activities or a dead letter with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from activity.raw import RawFormat
from tests.unit._normalize_helpers import SAMPLE_DIR, RunStats, run_lines, sample_lines, table

FORMATS = {
    "bluesky": RawFormat.JETSTREAM,
    "mastodon": RawFormat.MASTODON,
    "reddit": RawFormat.REDDIT,
    "twitter_v2": RawFormat.TWITTER_V2,
}


@pytest.fixture(scope="module")
def shared_data() -> Path:
    path = Path(__file__).parents[2].parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"{path} is absent (CI has it)")
    return path


def _check(stats: RunStats, capsys: pytest.CaptureFixture[str], title: str) -> None:
    with capsys.disabled():
        print(f"\n{title}: {stats.lines} lines, {stats.with_activity} with activities")
        print("activities by network/kind:\n" + table(stats.kinds))
        print("dead letters by reason:\n" + table(stats.reasons))
    assert stats.unaccounted == []
    assert stats.conflicting_ids == []
    assert stats.lines > 0


def test_every_line_of_shared_social_data(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stats = RunStats()
    files = sorted((shared_data / "social").rglob("*.jsonl"))
    assert files
    for path in files:
        run_lines(
            stats,
            FORMATS[path.parent.name],
            str(path.relative_to(shared_data)),
            path.read_bytes().splitlines(),
        )
    _check(stats, capsys, "shared/data/social")
    assert stats.lines >= 4900
    # what the data is known to hold: block/status/third-party collections, count and list responses,
    # compliance frames, blank lines and one truncated stream frame
    assert set(stats.reasons) == {"unknown_kind", "empty", "malformed_json"}
    assert stats.reasons["malformed_json"] == 1
    assert stats.lines - stats.with_activity == 16  # 13 unknown_kind + 2 empty + 1 malformed_json


def test_every_line_of_bundled_samples(capsys: pytest.CaptureFixture[str]) -> None:
    stats = RunStats()
    for path in sorted(SAMPLE_DIR.glob("*.jsonl.gz")):
        fmt = next(f for prefix, f in FORMATS.items() if path.name.startswith(prefix))
        run_lines(stats, fmt, path.name, sample_lines(path.name))
    _check(stats, capsys, "tests/data/sample")
    assert stats.lines == 152 + 60 + 300 + 100 + 8  # the stream capture's 8th line is truncated
    assert stats.reasons["malformed_json"] == 1
    assert stats.kinds["reddit/reply"] == 300
    assert stats.kinds["bluesky/like"] > 50
