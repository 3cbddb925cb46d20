from __future__ import annotations

from activity.schema import AccountRef, Activity, ActivityKind, Network
from scoring.alerts import SCHEMA_VERSION, NegativeMentionRule
from scoring.priority import CompanyMatcher, Sentiment, score_post


def post(
    text: str,
    kind: ActivityKind = ActivityKind.POST,
    mentions: tuple[AccountRef, ...] = (),
    hashtags: tuple[str, ...] = (),
) -> Activity:
    return Activity(
        event_id="x:tweet:1",
        kind=kind,
        network=Network.X,
        actor=AccountRef(id="x:42", network=Network.X, handle="jo"),
        created_at=1_750_000_000.0,
        received_at=1_750_000_000.5,
        source="test",
        post_id="x:1",
        text=text,
        mentions=mentions,
        hashtags=hashtags,
    )


def test_company_matcher_by_keyword_account_handle_and_hashtag() -> None:
    m = CompanyMatcher(["Acme", "@acmesupport"], ["x:999"])
    assert m.mentions_company(post("My ACME order is late"))
    assert m.mentions_company(post("thanks @acmesupport!"))
    assert not m.mentions_company(post("acmeville is lovely"))  # word boundary
    assert not m.mentions_company(post("nothing here"))
    assert m.mentions_company(post("hi", mentions=(AccountRef("x:999", Network.X),)))
    assert m.mentions_company(post("hi", hashtags=("acme",)))
    assert not m.mentions_company(post("acme", kind=ActivityKind.LIKE))


def test_sentiment_is_negative_for_a_complaint_and_positive_for_praise() -> None:
    s = Sentiment()
    assert s.compound("@acme my order arrived broken and support ignored me. Worst service ever.") < -0.5
    assert s.compound("Love the new Acme app, great job!") > 0.5


def test_priority_in_unit_interval_with_reasons_and_alert_rule() -> None:
    p = score_post(post("terrible"), sentiment=-0.9, influence=25.0)
    assert 0.0 <= p.priority <= 1.0
    assert "strongly negative" in p.reasons and "influential author" in p.reasons
    calm = score_post(post("ok"), sentiment=0.2, influence=0.0)
    assert calm.priority == 0.0
    rule = NegativeMentionRule(sentiment_max=-0.3, influence_min=3.0)
    alert = rule.evaluate(p, now=1.0)
    assert alert is not None
    again = rule.evaluate(p, now=2.0)
    assert again is not None and again.alert_id == alert.alert_id  # stable id: replays deduplicate
    d = alert.to_dict()
    assert d["schema_version"] == SCHEMA_VERSION and d["event_id"] == "x:tweet:1" and d["rule"] == rule.name
    assert rule.evaluate(score_post(post("x"), -0.9, 1.0), now=1.0) is None  # not influential enough
    assert rule.evaluate(score_post(post("x"), 0.5, 50.0), now=1.0) is None  # not negative
