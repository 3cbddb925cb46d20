"""X API v2 filtered-stream frames: ``{"data": tweet, "includes": {"users", "tweets"}, "matching_rules"}``."""

from __future__ import annotations

import random
from typing import Any

from sources import _ids
from sources._common import Action, PostRef, iso_s, text_tokens
from sources._people import Account
from sources._text import render

SOURCES = ("Twitter for iPhone", "Twitter for Android", "Twitter Web App", "TweetDeck")


def user(acc: Account) -> dict[str, Any]:
    """The user object of ``includes.users`` (built once per account: profiles do not change here)."""
    u: dict[str, Any] | None = acc.cache.get("x_user")
    if u is None:
        u = acc.cache["x_user"] = _user(acc)
    return u


def _user(acc: Account) -> dict[str, Any]:
    u: dict[str, Any] = {
        "profile_image_url": f"https://pbs.twimg.com/profile_images/{acc.native}/avatar_normal.jpg",
        "verified": acc.followers > 100_000,
        "name": acc.display_name,
        "username": acc.handle,
        "created_at": iso_s(acc.created_at),
        "public_metrics": {
            "followers_count": acc.followers,
            "following_count": acc.following,
            "tweet_count": acc.posts,
            "listed_count": acc.followers // 200,
        },
        "location": acc.location,
        "id": acc.native,
        "description": acc.bio,
        "protected": False,
        "url": "",
    }
    if acc.website:
        short = "https://t.co/" + acc.native[-10:]
        u["entities"] = {
            "url": {
                "urls": [
                    {
                        "start": 0,
                        "end": len(short),
                        "url": short,
                        "expanded_url": acc.website,
                        "display_url": acc.website[8:],
                    }
                ]
            }
        }
        u["url"] = short
    return u


def _tweet(action: Action, created: float, tid: str, rng: random.Random) -> tuple[dict[str, Any], str]:
    acc = action.actor
    tokens, who = text_tokens(action, "https://t.co/" + _ids.reddit_id(rng, 10) if acc.website else None)
    text, spans = render(action.template, tokens)
    tgt = action.target
    if action.kind == "quote" and tgt is not None:
        link = "https://t.co/" + _ids.reddit_id(rng, 10)
        spans.append(("quote", len(text) + 1, len(text) + 1 + len(link)))
        text = f"{text} {link}"
    mentions, urls, hashtags = [], [], []
    for key, s, e in spans:
        if key in who:
            mentions.append({"start": s, "end": e, "username": who[key].handle, "id": who[key].native})
        elif key == "url" and acc.website:
            urls.append(
                {
                    "start": s,
                    "end": e,
                    "url": text[s:e],
                    "expanded_url": acc.website,
                    "display_url": acc.website[8:],
                }
            )
        elif key == "quote" and tgt is not None:
            full = f"https://twitter.com/{tgt.author.handle}/status/{tgt.id}"
            urls.append(
                {
                    "start": s,
                    "end": e,
                    "url": text[s:e],
                    "expanded_url": full,
                    "display_url": full[8:30] + "…",
                }
            )
        elif key == "tag":
            hashtags.append({"start": s, "end": e, "tag": action.tag})
    tw: dict[str, Any] = {
        "author_id": acc.native,
        "conversation_id": tid,
        "id": tid,
        "created_at": iso_s(created),
        "text": text,
        "edit_history_tweet_ids": [tid],
        "reply_settings": "everyone",
        "possibly_sensitive": False,
    }
    if action.kind == "reply" and tgt is not None:
        tw["in_reply_to_user_id"] = tgt.author.native
        tw["conversation_id"] = tgt.extra.get("conversation_id", tgt.id)
        tw["referenced_tweets"] = [{"type": "replied_to", "id": tgt.id}]
    elif action.kind == "quote" and tgt is not None:
        tw["referenced_tweets"] = [{"type": "quoted", "id": tgt.id}]
    entities: dict[str, Any] = {}
    if mentions:
        entities["mentions"] = mentions
    if urls:
        entities["urls"] = urls
    if hashtags:
        entities["hashtags"] = hashtags
    if entities:
        tw["entities"] = entities
    tw["source"] = rng.choice(SOURCES)
    tw["lang"] = "en"
    tw["public_metrics"] = {"retweet_count": 0, "reply_count": 0, "like_count": 0, "quote_count": 0}
    return tw, text


def _frame(
    tweet: dict[str, Any], users: list[Account], tweets: list[dict[str, Any]], rule: str
) -> dict[str, Any]:
    seen: dict[str, Account] = {}
    for u in users:
        seen.setdefault(u.native, u)
    includes: dict[str, Any] = {"users": [user(u) for u in seen.values()]}
    if tweets:
        includes["tweets"] = tweets
    return {"data": tweet, "includes": includes, "matching_rules": [{"id": rule, "tag": "groundswell"}]}


def encode(action: Action, rng: random.Random, rule: str) -> tuple[dict[str, Any], PostRef | None]:
    created = float(int(action.t - rng.uniform(0.2, 3.0)))
    tid = _ids.snowflake(created * 1000, rng)
    acc = action.actor
    users = [acc] + [a for a in (action.company, action.mentioned) if a is not None]
    tgt = action.target
    if action.kind in ("post", "reply", "quote"):
        tw, text = _tweet(action, created, tid, rng)
        ref = PostRef(acc, tid, text, created, extra={"tweet": tw, "conversation_id": tw["conversation_id"]})
        refs = []
        if tgt is not None and action.kind != "post":
            users.append(tgt.author)
            refs.append(tgt.extra["tweet"])
        return _frame(tw, users, refs, rule), ref
    if action.kind == "repost" and tgt is not None:
        head = f"RT @{tgt.author.handle}: "
        body = tgt.text if len(head) + len(tgt.text) <= 140 else tgt.text[: 139 - len(head)] + "…"
        tw = {
            "author_id": acc.native,
            "conversation_id": tid,
            "id": tid,
            "created_at": iso_s(created),
            "text": head + body,
            "edit_history_tweet_ids": [tid],
            "reply_settings": "everyone",
            "possibly_sensitive": False,
            "referenced_tweets": [{"type": "retweeted", "id": tgt.id}],
            "entities": {
                "mentions": [
                    {
                        "start": 3,
                        "end": 4 + len(tgt.author.handle),
                        "username": tgt.author.handle,
                        "id": tgt.author.native,
                    }
                ]
            },
            "source": rng.choice(SOURCES),
            "lang": "en",
            "public_metrics": {"retweet_count": 0, "reply_count": 0, "like_count": 0, "quote_count": 0},
        }
        return _frame(tw, [acc, tgt.author], [tgt.extra["tweet"]], rule), None
    raise ValueError(f"x cannot encode {action.kind!r}")


def synth_post(author: Account, text: str, t: float, rng: random.Random) -> PostRef:
    """A tweet made before the simulation started, so an early reply, retweet or quote has a subject."""
    created = float(int(t))
    tid = _ids.snowflake(created * 1000, rng)
    tw, rendered = _tweet(Action("post", author, t, template=text), created, tid, rng)
    return PostRef(author, tid, rendered, created, extra={"tweet": tw, "conversation_id": tid})
