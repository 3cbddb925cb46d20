"""Seeded generator of "the same person on another network" and "a different person with a similar name".

Starts from a REAL profile (``benchmarks._real_profiles``) and changes it the ways people's accounts
really differ between networks. Every choice is drawn from ``random.Random`` seeded by
``sha256(seed, account id)``, so each profile's twin is the same on every run regardless of order.

Twin (same person):
- network: a Bridgy-Fed mirror's twin is its Bluesky original (``bluesky:<did>``, the bsky.app handle;
  Bridgy copies the bio); an X user's twin is on Mastodon or Bluesky; a Mastodon user's on X or Bluesky;
- handle: kept, varied (separators, digits, "real"/"the" prefixes, network suffix), rebuilt from the
  display name, or unrelated; formatted per network (``name``, ``name@instance``, ``name.bsky.social``
  or the person's own domain on Bluesky);
- display name: kept, stripped of emoji/pronouns/taglines, shortened ("Anna N.", "Anna"), nicknamed,
  re-cased or decorated; sometimes missing;
- bio: kept, reordered/partly dropped, cut to its first sentence, reworded (hashtags, emoji and
  mentions dropped, common words swapped for synonyms, lower-cased), or missing; sometimes a cross-link
  ("also @name@instance") is added (and then put in ``links``);
- websites kept half of the time; location (X only) kept 40% of the time.

Hard negative (namesake): a different real person's bio, links and websites under a name close to the
source's: the same name, the same given name with another surname, or a one-letter typo; their handle
is sometimes built from that name, as namesakes' handles often are.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import replace

from benchmarks._real_profiles import RealProfile
from identity.nicknames import nicknames_of
from identity.records import ProfileRecord

INSTANCES = (
    "mastodon.social",
    "fosstodon.org",
    "hachyderm.io",
    "mstdn.social",
    "infosec.exchange",
    "chaos.social",
)
_EMOJI = re.compile(r"[\U0001F000-\U0001FAFF\u2600-\u27BF\U0001F1E6-\U0001F1FF\u200d\ufe0f]+")
_PRONOUNS = re.compile(r"\(?\b(she/her|he/him|they/them|she/they|he/they)\b\)?", re.I)
_HASHTAG = re.compile(r"#\w+")
_MENTION = re.compile(r"@\w[\w.@-]*")
_SENTENCE = re.compile(r"(?<=[.!?|•])\s+|\n+")
SYNONYMS = {
    "professor": "prof",
    "university": "uni",
    "research": "studies",
    "researcher": "scientist",
    "writer": "author",
    "author": "writer",
    "journalist": "reporter",
    "reporter": "journalist",
    "father": "dad",
    "mother": "mom",
    "husband": "hubby",
    "lover": "fan",
    "passionate": "enthusiastic",
    "views": "opinions",
    "opinions": "views",
    "personal": "private",
    "account": "profile",
    "official": "the",
    "news": "updates",
    "and": "&",
    "&": "and",
    "working": "work",
    "interested": "into",
    "love": "like",
    "developer": "dev",
    "software": "code",
    "engineer": "dev",
    "teacher": "educator",
    "student": "learner",
    "phd": "doctoral",
}


def rng_for(seed: int, key: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(f"{seed}|{key}".encode()).digest()[:8], "big"))


def local_part(handle: str) -> str:
    local = handle.lstrip("@").split("@")[0]
    return local.split(".")[0] if local.endswith((".bsky.social", ".bsky.app")) else local


def _ascii_words(name: str | None) -> list[str]:
    return [w for w in re.findall(r"[A-Za-zÀ-ÿ]+", name or "") if len(w) > 1]


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 4:
        return word + rng.choice("aeiou")
    i = rng.randrange(1, len(word) - 1)
    op = rng.random()
    if op < 0.4:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op < 0.7:
        return word[:i] + word[i + 1 :]
    return word[:i] + rng.choice("aeilnorst") + word[i:]


def vary_handle(rng: random.Random, local: str, name: str | None) -> str:
    words = _ascii_words(name)
    roll = rng.random()
    if roll < 0.35:
        out = local
    elif roll < 0.65:
        v = rng.random()
        if v < 0.25:
            out = local.replace("_", "") if "_" in local else re.sub(r"([a-z])([A-Z])", r"\1_\2", local)
        elif v < 0.5:
            out = re.sub(r"\d+$", "", local) or local + str(rng.randrange(2, 99))
        elif v < 0.75:
            out = rng.choice(("real", "the", "its", "iam")) + local
        else:
            out = local + rng.choice(("_", "", "-")) + rng.choice(("x", "m", "bsky", "dev", "hq"))
    elif roll < 0.85 and len(words) >= 2:
        first, last = words[0].lower(), words[-1].lower()
        out = rng.choice(
            (first + last, first + "_" + last, first[0] + last, last + first[0], first + "." + last)
        )
    else:
        pool = ("coffee", "river", "pixel", "night", "north", "quiet", "blue", "paper", "owl", "maple")
        out = rng.choice(pool) + rng.choice(pool) + str(rng.randrange(10, 999))
    return out.lower() if rng.random() < 0.3 else out


def format_handle(network: str, local: str, rng: random.Random, domain: str | None = None) -> str:
    safe = re.sub(r"[^A-Za-z0-9_]", "", local) or "user"
    if network == "x":
        return safe[:15]
    if network == "mastodon":
        return f"{safe}@{rng.choice(INSTANCES)}"
    if domain and rng.random() < 0.3:
        return domain
    return re.sub(r"[^a-z0-9-]", "-", local.lower()).strip("-")[:40] + ".bsky.social"


def vary_name(rng: random.Random, name: str | None) -> str | None:
    if not name:
        return None
    words = _ascii_words(name)
    roll = rng.random()
    if roll < 0.38:
        return name
    if roll < 0.55:  # strip emoji, pronouns, taglines after separators
        plain = re.split(r"\s[|@·•\-–—]\s|,", _PRONOUNS.sub("", _EMOJI.sub("", name)))[0].strip()
        return plain or name
    if roll < 0.68 and len(words) >= 2:
        return f"{words[0]} {words[-1][0]}." if rng.random() < 0.6 else words[0]
    if roll < 0.76 and words:
        nicks = sorted(n for n in nicknames_of(words[0]) if n.isalpha())
        if nicks:
            return " ".join([rng.choice(nicks).title(), *words[1:]])
        return name
    if roll < 0.84:
        return name.lower() if rng.random() < 0.5 else name.upper()
    if roll < 0.92:
        return name + rng.choice((" 🌻", " 🏳️\u200d🌈", " (she/her)", " (he/him)", " ✨", " | views my own"))
    return None


def _reword(rng: random.Random, text: str) -> str:
    text = _MENTION.sub("", _HASHTAG.sub("", _EMOJI.sub("", text)))
    words = text.split()
    out = [SYNONYMS.get(w.lower(), w) if rng.random() < 0.7 else w for w in words]
    text = " ".join(out)
    return text.lower() if rng.random() < 0.3 else text


def vary_bio(rng: random.Random, bio: str | None) -> str | None:
    if not bio:
        return None
    sentences = [s.strip() for s in _SENTENCE.split(bio) if s.strip()]
    roll = rng.random()
    if roll < 0.18:
        return bio
    if roll < 0.42 and len(sentences) >= 2:
        keep = rng.sample(sentences, max(1, len(sentences) - rng.randrange(1, len(sentences))))
        return " ".join(keep)
    if roll < 0.58:
        first = sentences[0] if sentences else bio
        return first[: rng.randrange(60, 160)]
    if roll < 0.8:
        return _reword(rng, bio) or None
    return None


def bridged_bluesky_id(p: RealProfile) -> str | None:
    did = p.account_id.rsplit("/ap/", 1)[-1] if "/ap/" in p.account_id else None
    return f"bluesky:{did}" if did and did.startswith("did:") else None


def twin(p: RealProfile, base: ProfileRecord, seed: int) -> ProfileRecord:
    """The same person's account on another network."""
    rng = rng_for(seed, "twin|" + p.account_id)
    domain = next((re.sub(r"^https?://(www\.)?", "", w).split("/")[0] for w in p.websites), None)
    bsky_original = bridged_bluesky_id(p)
    if p.bridged_from_bluesky and bsky_original and p.links:
        handle = p.links[0].rsplit("/profile/", 1)[-1]
        return ProfileRecord(
            record_id=bsky_original,
            source="bluesky",
            display_name=base.display_name if rng.random() < 0.8 else vary_name(rng, base.display_name),
            handle=handle,
            bio=base.bio if rng.random() < 0.8 else vary_bio(rng, base.bio),
            websites=tuple(w for w in p.websites if "bsky.social" not in w),
        )
    if p.network == "x":
        target = "mastodon" if rng.random() < 0.6 else "bluesky"
    else:
        target = "x" if rng.random() < 0.65 else "bluesky"
    local = vary_handle(rng, local_part(p.handle), p.display_name)
    handle = format_handle(target, local, rng, domain)
    bio = vary_bio(rng, base.bio)
    links: tuple[str, ...] = ()
    if rng.random() < 0.1:
        src = f"@{p.handle}" if p.network == "mastodon" else f"x.com/{p.handle}"
        links = (src,)
        bio = ((bio or "") + f" also {src}").strip()
    return ProfileRecord(
        record_id=f"{target}:crossnet-twin:{hashlib.sha256(p.account_id.encode()).hexdigest()[:12]}",
        source=target,
        display_name=vary_name(rng, base.display_name),
        handle=handle,
        bio=bio,
        websites=base.websites if rng.random() < 0.5 else (),
        links=links,
        location=base.location if target == "x" and rng.random() < 0.4 else None,
    )


def namesake(p: RealProfile, base: ProfileRecord, other: ProfileRecord, seed: int) -> ProfileRecord | None:
    """A different person (``other``'s profile) whose name is close to ``p``'s."""
    rng = rng_for(seed, "namesake|" + p.account_id)
    words = _ascii_words(base.display_name)
    if len(words) < 2:
        return None
    roll = rng.random()
    if roll < 0.45:
        name = base.display_name
    elif roll < 0.75:
        other_words = _ascii_words(other.display_name)
        surname = (
            other_words[-1]
            if len(other_words) >= 2 and other_words[-1] != words[-1]
            else _typo(rng, words[-1])
        )
        name = f"{words[0]} {surname}"
    else:
        i = rng.randrange(len(words))
        name = " ".join(_typo(rng, w) if j == i else w for j, w in enumerate(words))
    target = other.source if other.source != p.network else ("bluesky" if p.network != "bluesky" else "x")
    if rng.random() < 0.35:
        local = vary_handle(rng, "".join(_ascii_words(name)).lower(), name)
    else:
        local = local_part(other.handle or "user")
    if re.sub(r"[^a-z0-9]", "", local.lower()) == re.sub(r"[^a-z0-9]", "", local_part(p.handle).lower()):
        local += str(rng.randrange(2, 999))  # a namesake cannot hold the person's own handle
    handle = format_handle(target, local, rng)
    return replace(
        other,
        record_id=f"{target}:crossnet-namesake:{hashlib.sha256(p.account_id.encode()).hexdigest()[:12]}",
        source=target,
        display_name=name,
        handle=handle,
        links=(),
    )
