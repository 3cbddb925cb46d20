"""X API v2 responses and filtered-stream frames (also twarc's "flat" one-tweet-per-line objects).

- A response ``{"data": [...] | {...}, "includes": {"users", "tweets"}, "errors"}`` yields one
  activity per tweet in ``data`` and in ``includes.tweets`` (the referenced originals), and a
  PROFILE per user in ``includes.users`` (and per user object embedded by twarc's flattening).
  Items in ``data`` that are neither tweets nor users (counts, lists...) give one dead letter per
  response (UNKNOWN_KIND, with the count), next to whatever else the response held.
- ``errors`` without any data is a SOURCE_ERROR dead letter. ``errors`` next to data describe other
  resources (a suspended mentioned user, a missing pinned tweet): not dead letters, the raw topic
  keeps them. Compliance frames (``{"id", "action": "delete"}``) do not say whether the id is a
  tweet or a user: UNKNOWN_KIND.
- Kinds: ``retweeted`` -> REPOST (no own text), ``replied_to`` -> REPLY (target account:
  ``in_reply_to_user_id``), ``quoted`` -> QUOTE, else POST. Targets' authors come from the
  referenced tweets when the response includes them.
- Ids: accounts ``x:<user id>``, posts ``x:<tweet id>``; event ids ``x:tweet:<id>`` and
  ``x:user:<id>:<profile hash>``. A user snapshot's ``created_at`` is the receive time.
"""

from __future__ import annotations

from typing import Any

from activity.deadletter import DeadLetter, DeadLetterReason, NormalizationError
from activity.normalize._common import Batch, fail, iso_time, opt, opt_list_of_dicts, profile_event_id, req
from activity.raw import RawEvent
from activity.schema import AccountRef, Activity, ActivityKind, Network, Profile

_NET = Network.X
_REF_KINDS = {
    "retweeted": ActivityKind.REPOST,
    "replied_to": ActivityKind.REPLY,
    "quoted": ActivityKind.QUOTE,
}
_PRECEDENCE = ("retweeted", "replied_to", "quoted")


def account(user_id: str, handle: str | None = None, name: str | None = None) -> AccountRef:
    return AccountRef(id=f"x:{user_id}", network=_NET, handle=handle, display_name=name)


def _is_tweet(obj: dict[str, Any]) -> bool:
    return "id" in obj and ("text" in obj or "author_id" in obj)


def _is_user(obj: dict[str, Any]) -> bool:
    return "id" in obj and "username" in obj


def normalize_twitter(obj: dict[str, Any], raw: RawEvent, batch: Batch) -> None:
    data = obj.get("data")
    if data is None and _is_tweet(obj):  # twarc flat: the tweet itself
        data = [obj]
    if data is None:
        errors = opt(obj, "errors", list)
        if errors:
            raise fail(DeadLetterReason.SOURCE_ERROR, _describe_errors(errors))
        if "action" in obj:
            raise fail(DeadLetterReason.UNKNOWN_KIND, f"compliance event {obj.get('action')!r}")
        raise fail(DeadLetterReason.MISSING_FIELD, "data is missing")
    items = [data] if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise fail(DeadLetterReason.WRONG_TYPE, f"data: expected array or object, got {type(data).__name__}")
    includes = opt(obj, "includes", dict) or {}
    users = opt_list_of_dicts(includes, "users", "includes")
    inc_tweets = opt_list_of_dicts(includes, "tweets", "includes")
    tweets: list[dict[str, Any]] = []
    skipped: list[tuple[DeadLetterReason, str]] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            skipped.append((DeadLetterReason.WRONG_TYPE, f"data[{i}] is {type(item).__name__}"))
        elif _is_tweet(item):
            tweets.append(item)
        elif _is_user(item):
            users.append(item)
        else:
            skipped.append((DeadLetterReason.UNKNOWN_KIND, f"data[{i}] is neither a tweet nor a user"))
    # twarc flattening embeds users and referenced tweets in each tweet
    for tw in list(tweets):
        for ref in opt_list_of_dicts(tw, "referenced_tweets", "tweet"):
            if _is_tweet(ref):
                inc_tweets.append(ref)
    authors: dict[str, str] = {}  # tweet id -> author id
    for tw in tweets + inc_tweets:
        for key in ("author", "in_reply_to_user"):
            embedded = tw.get(key)
            if isinstance(embedded, dict) and _is_user(embedded):
                users.append(embedded)
        if isinstance(tw.get("id"), str) and isinstance(tw.get("author_id"), str):
            authors[tw["id"]] = tw["author_id"]
    handles = {
        u["id"]: u["username"]
        for u in users
        if isinstance(u.get("id"), str) and isinstance(u.get("username"), str)
    }
    for i, tw in enumerate(tweets + inc_tweets):
        _guard(batch, raw, skipped, f"tweet[{i}]", lambda tw=tw: batch.add(_tweet(tw, raw, authors, handles)))
    for i, user in enumerate(users):
        _guard(batch, raw, skipped, f"user[{i}]", lambda user=user: batch.add(_user(user, raw)))
    if skipped:  # one dead letter per response, with the first failure's reason
        detail = f"{len(skipped)} item(s) not normalized: " + "; ".join(d for _, d in skipped[:5])
        batch.dead_letters.append(DeadLetter.of(raw, skipped[0][0], detail))


def _guard(
    batch: Batch, raw: RawEvent, skipped: list[tuple[DeadLetterReason, str]], where: str, fn: Any
) -> None:
    try:
        fn()
    except NormalizationError as exc:
        skipped.append((exc.reason, f"{where}: {exc.detail}"))


def _describe_errors(errors: list[Any]) -> str:
    parts = []
    for e in errors[:5]:
        if isinstance(e, dict):
            parts.append(str(e.get("title") or e.get("type") or "error") + ": " + str(e.get("detail") or ""))
        else:
            parts.append(str(e)[:200])
    return f"{len(errors)} error(s): " + " | ".join(parts)


def _tweet(tw: dict[str, Any], raw: RawEvent, authors: dict[str, str], handles: dict[str, str]) -> Activity:
    tid = req(tw, "id", str, "tweet")
    author_id = opt(tw, "author_id", str, "tweet")
    if author_id is None:
        embedded = opt(tw, "author", dict, "tweet")
        author_id = req(embedded, "id", str, "tweet.author") if embedded else None
    if author_id is None:
        raise fail(DeadLetterReason.MISSING_FIELD, f"tweet {tid}: author_id is missing")
    created = opt(tw, "created_at", str, "tweet")
    when = iso_time(created, "tweet.created_at") if created else raw.received_at
    refs: dict[str, str] = {}
    for r in opt_list_of_dicts(tw, "referenced_tweets", "tweet"):
        refs.setdefault(req(r, "type", str, "referenced_tweets"), req(r, "id", str, "referenced_tweets"))
    kind, target_post, target_account = ActivityKind.POST, None, None
    for ref_type in _PRECEDENCE:
        if ref_type in refs:
            kind, target_post = _REF_KINDS[ref_type], refs[ref_type]
            break
    if target_post is not None:
        target_author = authors.get(target_post)
        if kind is ActivityKind.REPLY:
            target_author = opt(tw, "in_reply_to_user_id", str, "tweet") or target_author
        if target_author:
            target_account = account(target_author, handles.get(target_author))
    entities = opt(tw, "entities", dict, "tweet") or {}
    mentions = []
    for m in opt_list_of_dicts(entities, "mentions", "entities"):
        mid, username = opt(m, "id", str, "mention"), opt(m, "username", str, "mention")
        if mid is None and username is not None:
            mid = next((k for k, v in handles.items() if v.lower() == username.lower()), None)
        if mid is not None:
            mentions.append(account(mid, username or handles.get(mid)))
    tags = [req(h, "tag", str, "hashtag") for h in opt_list_of_dicts(entities, "hashtags", "entities")]
    urls = []
    for u in opt_list_of_dicts(entities, "urls", "entities"):
        link = (
            opt(u, "unwound_url", str, "url")
            or opt(u, "expanded_url", str, "url")
            or opt(u, "url", str, "url")
        )
        if link:
            urls.append(link)
    return Activity(
        event_id=f"x:tweet:{tid}",
        kind=kind,
        network=_NET,
        actor=account(author_id, handles.get(author_id)),
        created_at=when,
        received_at=raw.received_at,
        source=raw.source,
        post_id=f"x:{tid}",
        text=None if kind is ActivityKind.REPOST else opt(tw, "text", str, "tweet"),
        lang=opt(tw, "lang", str, "tweet"),
        target_post_id=f"x:{target_post}" if target_post else None,
        target_account=target_account,
        mentions=tuple(dict.fromkeys(mentions)),
        hashtags=tuple(dict.fromkeys(tags)),
        urls=tuple(dict.fromkeys(urls)),
    )


def _user(user: dict[str, Any], raw: RawEvent) -> Activity:
    uid = req(user, "id", str, "user")
    name = opt(user, "name", str, "user")
    metrics = opt(user, "public_metrics", dict, "user") or {}
    created = opt(user, "created_at", str, "user")
    profile = Profile(
        display_name=name,
        bio=opt(user, "description", str, "user"),
        url=opt(user, "url", str, "user") or None,
        location=opt(user, "location", str, "user"),
        followers=opt(metrics, "followers_count", int, "user.public_metrics"),
        following=opt(metrics, "following_count", int, "user.public_metrics"),
        posts=opt(metrics, "tweet_count", int, "user.public_metrics"),
        created_at=iso_time(created, "user.created_at") if created else None,
    )
    actor = account(uid, opt(user, "username", str, "user"), name)
    return Activity(
        event_id=profile_event_id("x:user", actor, profile),
        kind=ActivityKind.PROFILE,
        network=_NET,
        actor=actor,
        created_at=raw.received_at,
        received_at=raw.received_at,
        source=raw.source,
        profile=profile,
    )
