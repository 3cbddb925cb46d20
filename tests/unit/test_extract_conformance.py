"""twitter-text's extraction conformance suite (tests/data/conformance/twitter_text_extract.yml).

Every case of every supported section runs; cases knowingly unsupported are listed by description in
KNOWN_UNSUPPORTED and run as strict xfails, so a fix (or a regression) shows up at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from activity import extract

CONFORMANCE = Path(__file__).parents[1] / "data" / "conformance" / "twitter_text_extract.yml"


def _values(fn: Callable[[str], list[str]]) -> Callable[[str], Any]:
    return fn


def _mentions_idx(text: str) -> Any:
    return [
        {"screen_name": e.value, "indices": [e.start, e.end]}
        for e in extract.extract_mentions_with_indices(text)
    ]


def _mentions_or_lists_idx(text: str) -> Any:
    return [
        {"screen_name": e.value, "list_slug": e.list_slug, "indices": [e.start, e.end]}
        for e in extract.extract_mentions_or_lists_with_indices(text)
    ]


def _urls_idx(text: str) -> Any:
    return [{"url": e.value, "indices": [e.start, e.end]} for e in extract.extract_urls_with_indices(text)]


def _hashtags_idx(text: str) -> Any:
    return [
        {"hashtag": e.value, "indices": [e.start, e.end]} for e in extract.extract_hashtags_with_indices(text)
    ]


def _cashtags_idx(text: str) -> Any:
    return [
        {"cashtag": e.value, "indices": [e.start, e.end]} for e in extract.extract_cashtags_with_indices(text)
    ]


SECTIONS: dict[str, Callable[[str], Any]] = {
    "mentions": _values(extract.extract_mentions),
    "mentions_with_indices": _mentions_idx,
    "mentions_or_lists_with_indices": _mentions_or_lists_idx,
    "replies": extract.extract_reply_screen_name,
    "urls": _values(extract.extract_urls),
    "urls_with_indices": _urls_idx,
    "urls_with_directional_markers": _urls_idx,
    "tco_urls_with_params": _values(extract.extract_urls),
    "hashtags": _values(extract.extract_hashtags),
    "hashtags_from_astral": _values(extract.extract_hashtags),
    "hashtags_with_indices": _hashtags_idx,
    "cashtags": _values(extract.extract_cashtags),
    "cashtags_with_indices": _cashtags_idx,
}

#: (section, description) -> why it is not supported
KNOWN_UNSUPPORTED: dict[tuple[str, str], str] = {}


def _cases() -> list[Any]:
    data = yaml.safe_load(CONFORMANCE.read_text(encoding="utf-8"))["tests"]
    assert set(SECTIONS) <= set(data), "a supported section vanished from the conformance file"
    params = []
    for section in SECTIONS:
        for case in data[section]:
            key = (section, case["description"])
            marks = []
            if key in KNOWN_UNSUPPORTED:
                marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_UNSUPPORTED[key]))
            params.append(
                pytest.param(
                    section,
                    case["text"],
                    case["expected"],
                    marks=marks,
                    id=f"{section}:{case['description']}",
                )
            )
    return params


def test_every_known_unsupported_case_exists() -> None:
    data = yaml.safe_load(CONFORMANCE.read_text(encoding="utf-8"))["tests"]
    present = {(s, c["description"]) for s in SECTIONS for c in data[s]}
    assert set(KNOWN_UNSUPPORTED) <= present


@pytest.mark.parametrize(("section", "text", "expected"), _cases())
def test_conformance(section: str, text: str, expected: Any) -> None:
    assert SECTIONS[section](text) == expected
