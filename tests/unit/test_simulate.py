"""sources.simulate: determinism, real wire formats, heavy tails, cross-network people, intents."""

from __future__ import annotations

import gzip
import importlib
import itertools
import re
from collections import Counter
from typing import Any

import orjson
import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from activity.raw import RawEvent
from sources.samples import DEMO_DIR
from sources.simulate import Simulator, Truth

N = 4000


@pytest.fixture(scope="module")
def labeled() -> list[tuple[RawEvent, Truth]]:
    return list(itertools.islice(Simulator(seed=42).labeled(), N))


def _real(name: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in gzip.decompress((DEMO_DIR / name).read_bytes()).splitlines()]


def _union(dicts: list[dict[str, Any]]) -> set[str]:
    return set().union(*(d.keys() for d in dicts))


def _common(dicts: list[dict[str, Any]]) -> set[str]:
    return set.intersection(*(set(d) for d in dicts))


def _by(labeled: list[tuple[RawEvent, Truth]], network: str) -> list[tuple[dict[str, Any], Truth]]:
    return [(orjson.loads(e.payload), t) for e, t in labeled if t.network == network]


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    a = Simulator(seed=7, n_people=300).take(800)
    b = Simulator(seed=7, n_people=300).take(800)
    c = Simulator(seed=8, n_people=300).take(800)
    assert a == b
    assert [e.payload for e in a] != [e.payload for e in c]


def test_every_event_is_json_of_its_format(labeled: list[tuple[RawEvent, Truth]]) -> None:
    formats = {"bluesky": "jetstream", "mastodon": "mastodon", "x": "twitter_v2", "reddit": "reddit"}
    for raw, truth in labeled:
        assert raw.format == formats[truth.network]
        assert raw.source == "sim"
        assert isinstance(orjson.loads(raw.payload), dict)
    assert set(Counter(t.network for _, t in labeled)) == set(formats)


def test_jetstream_events_have_the_real_shape(labeled: list[tuple[RawEvent, Truth]]) -> None:
    real = _real("bluesky_jetstream_capture_2026-07-04.jsonl.gz") + _real(
        "bluesky_jetstream_golden_2026-05-25.jsonl.gz"
    )
    real_commits = [r for r in real if r["kind"] == "commit" and r["commit"]["operation"] != "delete"]
    records: dict[str, list[dict[str, Any]]] = {}
    for r in real_commits:
        records.setdefault(r["commit"]["collection"], []).append(r["commit"]["record"])
    ident_keys = _union([r["identity"] for r in real if r["kind"] == "identity"]) | {"handle"}
    sim = _by(labeled, "bluesky")
    kinds = Counter(t.kind for _, t in sim)
    assert {"post", "reply", "like", "repost", "follow"} <= set(kinds)
    for ev, truth in sim:
        assert re.fullmatch(r"did:plc:[a-z2-7]{24}", ev["did"])
        if ev["kind"] == "identity":
            assert set(ev) == {"did", "time_us", "kind", "identity"}
            assert set(ev["identity"]) <= ident_keys
            continue
        assert set(ev) == set(real_commits[0])
        commit = ev["commit"]
        assert set(commit) == set(real_commits[0]["commit"])
        assert re.fullmatch(r"[2-7a-z]{13}", commit["rev"])
        assert re.fullmatch(r"[2-7a-z]{13}|self", commit["rkey"])
        assert re.fullmatch(r"bafyrei[a-z2-7]{52}", commit["cid"])
        rec, coll = commit["record"], commit["collection"]
        assert rec["$type"] == coll
        assert set(rec) <= _union(records[coll]), coll
        if coll == "app.bsky.feed.post":
            text = rec["text"].encode()
            for facet in rec.get("facets", []):
                span = text[facet["index"]["byteStart"] : facet["index"]["byteEnd"]].decode()
                feature = facet["features"][0]
                if feature["$type"].endswith("#mention"):
                    assert span.startswith("@")
                elif feature["$type"].endswith("#link"):
                    assert span == feature["uri"]
                else:
                    assert span == "#" + feature["tag"]
            assert ("reply" in rec) == (truth.kind == "reply")
    times = [ev["time_us"] for ev, _ in sim]
    assert times == sorted(times)


def test_mastodon_statuses_have_the_real_shape(labeled: list[tuple[RawEvent, Truth]]) -> None:
    real = _real("mastodon_statuses_sample.jsonl.gz")
    status_all, status_common = _union(real), _common(real)
    acc_all, acc_common = _union([r["account"] for r in real]), _common([r["account"] for r in real])
    mention_keys = _union([m for r in real for m in r["mentions"]])
    sim = _by(labeled, "mastodon")
    assert {"post", "reply", "repost"} <= {t.kind for _, t in sim}
    for ev, truth in sim:
        assert status_common <= set(ev) <= status_all
        assert acc_common <= set(ev["account"]) <= acc_all
        assert re.fullmatch(r"\d{17,19}", ev["id"])
        assert re.fullmatch(r"https://[a-z.]+/users/\w+", ev["account"]["uri"])
        for m in ev["mentions"]:
            assert set(m) == mention_keys
        if truth.kind == "repost":
            assert truth.target_account_id == "mastodon:" + ev["reblog"]["account"]["uri"]
        if truth.kind == "reply":
            assert ev["in_reply_to_id"]
            assert ev["in_reply_to_account_id"]


def test_x_frames_have_the_real_shape(labeled: list[tuple[RawEvent, Truth]]) -> None:
    real = _real("twitter_v2_flat.jsonl.gz")
    tweet_keys = _union(real) - {"author", "__twarc"} | {"edit_history_tweet_ids", "in_reply_to_user_id"}
    user_keys = _union([r["author"] for r in real])
    sim = _by(labeled, "x")
    assert {"post", "reply", "repost"} <= {t.kind for _, t in sim}
    for ev, truth in sim:
        assert set(ev) == {"data", "includes", "matching_rules"}
        tweet = ev["data"]
        assert {"id", "text", "author_id", "created_at"} <= set(tweet) <= tweet_keys
        assert re.fullmatch(r"\d{18,19}", tweet["id"])
        users = {u["id"]: u for u in ev["includes"]["users"]}
        assert tweet["author_id"] in users
        for u in users.values():
            assert set(u) <= user_keys
        for m in tweet.get("entities", {}).get("mentions", []):
            assert tweet["text"][m["start"] : m["end"]] == "@" + m["username"]
            assert m["id"] in users
        for ref in tweet.get("referenced_tweets", []):
            assert ref["id"] in {t["id"] for t in ev["includes"]["tweets"]}
        if truth.kind == "repost":
            assert tweet["text"].startswith("RT @")


def test_reddit_comments_have_the_real_shape(labeled: list[tuple[RawEvent, Truth]]) -> None:
    real_sets = {frozenset(r) for r in _real("reddit_comments_sample.jsonl.gz")}
    sim = _by(labeled, "reddit")
    for ev, truth in sim:
        assert frozenset(ev) in real_sets
        assert ev["name"] == "t1_" + ev["id"]
        assert ev["parent_id"].startswith("t1_" if truth.kind == "reply" else "t3_")
        assert ev["link_id"].startswith("t3_")


def test_follower_counts_and_attention_are_heavy_tailed(labeled: list[tuple[RawEvent, Truth]]) -> None:
    sim = Simulator(seed=3)
    followers = sorted((a.followers for p in sim.people for a in p.accounts.values()), reverse=True)
    top = followers[: len(followers) // 100]
    assert sum(top) > 0.2 * sum(followers)
    targets = Counter(
        t.target_account_id for _, t in labeled if t.kind in ("like", "repost", "follow", "reply")
    )
    counts = sorted(targets.values(), reverse=True)
    assert sum(counts[: max(1, len(counts) // 100)]) > 0.2 * sum(counts)


def test_people_appear_on_several_networks_with_shared_evidence() -> None:
    sim = Simulator(seed=5, n_people=1000)
    multi = [p for p in sim.people if len(p.accounts) >= 2]
    assert len(multi) >= 0.5 * len(sim.people)
    for p in multi:
        assert {a.display_name for a in p.accounts.values()} == {p.display_name}
        assert {a.website for a in p.accounts.values()} <= {p.website, None}
    truth = sim.accounts()
    assert sum(1 for v in truth.values() if v is None) == 4  # the company, once per network
    assert len(sim.company_account_ids()) == 4


def test_company_mentions_and_negative_complaints(labeled: list[tuple[RawEvent, Truth]]) -> None:
    texts = [(raw, t) for raw, t in labeled if t.kind in ("post", "reply", "quote") and t.person is not None]
    mentioning = [(raw, t) for raw, t in texts if t.mentions_company]
    assert 0.10 < len(mentioning) / len(texts) < 0.20
    intents = Counter(t.intent for _, t in mentioning)
    assert set(intents) == {"complaint", "praise", "question", "purchase_intent"}
    vader = SentimentIntensityAnalyzer()
    for raw, t in mentioning:
        text = _text_of(orjson.loads(raw.payload), t.network)
        assert "acme" in text.lower()
        if t.intent == "complaint":
            assert vader.polarity_scores(text)["compound"] <= -0.3, text
        if t.intent == "praise":
            assert vader.polarity_scores(text)["compound"] >= 0.3, text


def _text_of(ev: dict[str, Any], network: str) -> str:
    if network == "bluesky":
        return str(ev["commit"]["record"]["text"])
    if network == "mastodon":
        return re.sub(r"<[^>]+>", "", ev["content"])
    if network == "x":
        return str(ev["data"]["text"])
    return str(ev["body"])


def test_malformed_share_is_respected() -> None:
    assert not any(t.malformed for _, t in itertools.islice(Simulator(seed=1).labeled(), 2000))
    events = list(itertools.islice(Simulator(seed=1, malformed_share=0.1).labeled(), 5000))
    bad = [(raw, t) for raw, t in events if t.malformed]
    assert 0.085 < len(bad) / len(events) < 0.115
    for raw, _ in bad:
        try:
            obj = orjson.loads(raw.payload)
        except orjson.JSONDecodeError:
            continue
        assert not isinstance(obj, dict) or obj == {}


def test_clock_advances_at_the_simulated_rate() -> None:
    sim = Simulator(seed=2, events_per_second=100.0, start_time=1_800_000_000.0)
    events = sim.take(5000)
    assert sim.now == pytest.approx(1_800_000_000.0 + 50.0, rel=0, abs=5.0)
    assert all(1_800_000_000.0 <= e.received_at <= sim.now + 1 for e in events)


def test_simulated_events_normalize_without_dead_letters(labeled: list[tuple[RawEvent, Truth]]) -> None:
    try:
        module = importlib.import_module("activity.normalize")
    except ImportError as exc:
        pytest.skip(f"activity.normalize does not exist yet ({exc})")
    normalize = getattr(module, "normalize", None)
    if normalize is None:
        pytest.skip("activity.normalize has no normalize() yet")
    for raw, truth in labeled:
        result = normalize(raw)
        assert not result.dead_letters, (truth, result.dead_letters)
        assert len(result.activities) >= 1, truth
    for raw, truth in itertools.islice(Simulator(seed=4, malformed_share=0.5).labeled(), 1000):
        if truth.malformed:
            result = normalize(raw)
            assert result.dead_letters, truth
            assert not result.activities, truth
