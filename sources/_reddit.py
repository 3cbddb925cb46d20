"""Reddit comment (``t1``) data objects, as the API's listing ``data`` holds them."""

from __future__ import annotations

import html
import random
from dataclasses import dataclass
from typing import Any

from sources import _ids
from sources._common import Action, PostRef
from sources._people import Account
from sources._text import render

SUBREDDITS = (
    "technology",
    "BuyItForLife",
    "gadgets",
    "CustomerService",
    "personalfinance",
    "AskReddit",
    "smarthome",
    "Frugal",
)
TITLES = (
    "What's the most reliable brand you've bought from?",
    "Customer service horror stories thread",
    "Is it worth paying more for better support?",
    "Weekly recommendations megathread",
    "What product surprised you the most this year?",
    "PSA: check your bank statement after online orders",
)


@dataclass(frozen=True, slots=True)
class Submission:
    subreddit: str
    subreddit_id: str
    link_id: str
    title: str
    author: str
    slug: str  # the title as it appears in permalinks


def submissions(rng: random.Random, company_name: str) -> list[Submission]:
    subs = [*SUBREDDITS, company_name]
    out = []
    for sub in subs:
        sid = "t5_" + _ids.reddit_id(rng, 5)
        for _ in range(3):
            title = rng.choice(TITLES) if sub != company_name else f"{company_name} support megathread"
            out.append(
                Submission(
                    sub,
                    sid,
                    "t3_" + _ids.reddit_id(rng, 6),
                    title,
                    rng.choice(("AutoModerator", "throwaway_4471", "quietreader", "mod_team")),
                    _slug(title),
                )
            )
    return out


def _comment(
    action: Action, rng: random.Random, created: float, sub: Submission, parent: str, depth: int
) -> tuple[dict[str, Any], str]:
    acc = action.actor
    tokens: dict[str, str] = {}
    if action.company is not None:
        tokens["co"] = action.company.display_name
    if action.mentioned is not None:
        tokens["p"] = "u/" + action.mentioned.handle
    if acc.website:
        tokens["url"] = acc.website
    body, _ = render(action.template, tokens)
    cid = _ids.reddit_id(rng, 7)
    created_utc = float(int(created))
    short = sub.link_id[3:]
    return {
        "total_awards_received": 0,
        "approved_at_utc": None,
        "ups": 1,
        "awarders": [],
        "mod_reason_by": None,
        "banned_by": None,
        "author_flair_type": "text",
        "removal_reason": None,
        "link_id": sub.link_id,
        "author_flair_template_id": None,
        "likes": None,
        "user_reports": [],
        "saved": False,
        "id": cid,
        "banned_at_utc": None,
        "mod_reason_title": None,
        "gilded": 0,
        "archived": False,
        "no_follow": True,
        "author": acc.handle,
        "can_mod_post": False,
        "send_replies": True,
        "parent_id": parent,
        "score": 1,
        "author_fullname": acc.numeric_id,
        "report_reasons": None,
        "approved_by": None,
        "all_awardings": [],
        "subreddit_id": sub.subreddit_id,
        "collapsed": False,
        "body": body,
        "edited": False,
        "author_flair_css_class": None,
        "is_submitter": acc.handle == sub.author,
        "downs": 0,
        "author_flair_richtext": [],
        "author_patreon_flair": False,
        "body_html": f'<div class="md"><p>{html.escape(body)}</p>\n</div>',
        "gildings": {},
        "collapsed_reason": None,
        "associated_award": None,
        "stickied": False,
        "author_premium": False,
        "subreddit_type": "public",
        "can_gild": True,
        "subreddit": sub.subreddit,
        "author_flair_text_color": None,
        "score_hidden": True,
        "permalink": f"/r/{sub.subreddit}/comments/{short}/{sub.slug}/{cid}/",
        "num_reports": None,
        "locked": False,
        "name": f"t1_{cid}",
        "created": created_utc + 28800.0,
        "author_flair_text": None,
        "treatment_tags": [],
        "created_utc": created_utc,
        "subreddit_name_prefixed": f"r/{sub.subreddit}",
        "controversiality": 0,
        "depth": depth,
        "author_flair_background_color": None,
        "collapsed_because_crowd_control": None,
        "mod_reports": [],
        "mod_note": None,
        "distinguished": None,
    }, body


def _slug(title: str) -> str:
    words = "".join(c if c.isalnum() or c == " " else "" for c in title.lower()).split()
    return "_".join(words)[:50]


def encode(
    action: Action, rng: random.Random, subs: list[Submission]
) -> tuple[dict[str, Any], PostRef | None]:
    created = action.t - rng.uniform(0.5, 5.0)
    tgt = action.target
    if action.kind == "reply" and tgt is not None:
        sub: Submission = tgt.extra["sub"]
        parent, depth = tgt.id, int(tgt.extra["depth"]) + 1
    elif action.kind in ("post", "reply"):
        pool = subs[-3:] if action.company is not None and rng.random() < 0.5 else subs
        sub = rng.choice(pool)
        parent, depth = sub.link_id, 0
    else:
        raise ValueError(f"reddit cannot encode {action.kind!r}")
    comment, body = _comment(action, rng, created, sub, parent, depth)
    return comment, PostRef(action.actor, comment["name"], body, created, extra={"sub": sub, "depth": depth})


def synth_post(author: Account, text: str, t: float, rng: random.Random, subs: list[Submission]) -> PostRef:
    """A comment made before the simulation started, so an early reply has a parent."""
    comment, body = _comment(Action("post", author, t, template=text), rng, t, rng.choice(subs), "", 0)
    sub = next(s for s in subs if s.link_id == comment["link_id"])
    return PostRef(author, comment["name"], body, t, extra={"sub": sub, "depth": 0})
