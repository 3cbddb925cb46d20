"""Field comparisons between two profiles, as the sparse features the matcher weighs.

Each field gives one of a few *levels* (exact, nickname, similar, different, ...), Fellegi-Sunter
style, encoded as an indicator feature; a field missing on both sides gives no feature at all, so a
missing value is neither evidence for nor against. For the fields people fill in on one network and
leave out on another (display name, bio) a value present on one side only is an indicator of its own
(``*_missing_one``). The embedding cosine of the two profile texts is the one continuous feature; the
bio is also compared word by word (the cosine mixes name, handle and bio, so two people with the same
name and different bios can still look close). Every feature carries a short human-readable detail
that becomes the decision's evidence.

Records are first turned into ``Prepared`` (normalized once, cached), because the same record is
compared with many candidates. ``Prepared.social`` says whether a record is a network account with
no registry fields (email, phone, birth date, address, ids): two such records are weighed by the
matcher's social-profile model.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler, Levenshtein

from identity.blocking import account_keys, emails, first_last, linked_keys, personal_domains, phones
from identity.nicknames import are_nicknames
from identity.normalize import fold, handle_local, normalize_name
from identity.profile_text import clean_text
from identity.records import ProfileRecord

#: every feature the matcher knows, in model order
FEATURE_NAMES: tuple[str, ...] = (
    "cosine",
    "cosine_present",
    "social_pair",
    "first_exact",
    "first_nickname",
    "first_initial",
    "first_similar",
    "first_weak",
    "first_different",
    "last_exact",
    "last_initial",
    "last_similar",
    "last_weak",
    "last_different",
    "names_swapped",
    "full_name_exact",
    "full_name_similar",
    "full_name_weak",
    "full_name_different",
    "name_missing_one",
    "same_account",
    "linked_account",
    "handle_exact",
    "handle_contains",
    "handle_similar",
    "handle_overlap",
    "handle_different",
    "handle_matches_name",
    "email_same",
    "email_different",
    "phone_same",
    "phone_different",
    "domain_same",
    "domain_different",
    "location_exact",
    "location_similar",
    "location_different",
    "bio_same",
    "bio_overlap",
    "bio_some",
    "bio_different",
    "bio_missing_one",
    "company_same",
    "company_different",
    "birth_date_exact",
    "birth_date_close",
    "birth_date_different",
    "postcode_exact",
    "postcode_close",
    "postcode_different",
    "address_exact",
    "address_similar",
    "address_different",
    "national_id_exact",
    "national_id_close",
    "national_id_different",
)

_DIGITS = re.compile(r"\d+")
_BIO_WORD = re.compile(r"[^\W_]{3,}")
_LETTERS = re.compile(r"[^\W\d_]+")
_URL = re.compile(r"https?://\S+|www\.\S+")
SOCIAL_SOURCES = frozenset({"bluesky", "mastodon", "x", "reddit"})
MIN_HANDLE_PART = 4  # shorter shared handle parts ("ann", "joe") are shared by too many people


@dataclass(frozen=True, slots=True)
class Prepared:
    """A record's fields, normalized once for comparison."""

    record_id: str
    first: str
    last: str
    full_name: str
    full_tokens: frozenset[str]
    accounts: frozenset[str]
    linked: frozenset[str]
    handle_locals: frozenset[str]
    name_handles: frozenset[str]  # what a handle made from this name would look like
    emails: frozenset[str]
    phones: frozenset[str]
    domains: frozenset[str]
    location: str
    company: str
    birth_date: str  # digits only, YYYYMMDD when well formed
    postcode: str
    address: str
    national_id: str
    has_name: bool
    bio_words: tuple[str, ...]  # the bio's words (3+ letters, folded, URLs dropped), in order
    social: bool  # a network account without registry fields


def _bio_words(bio: str | None) -> tuple[str, ...]:
    return tuple(_BIO_WORD.findall(_URL.sub(" ", fold(clean_text(bio, 1000)))))


@lru_cache(maxsize=200_000)
def prepare(record: ProfileRecord) -> Prepared:
    first, last = first_last(record)
    full = normalize_name(record.display_name) or " ".join(p for p in (first, last) if p)
    if not full and record.display_name:  # a name in a non-Latin script folds to nothing: keep its words
        full = " ".join(_LETTERS.findall(record.display_name.casefold()))
    accounts = account_keys(record)
    locals_ = frozenset(x for x in (handle_local(a) for a in accounts) if len(x) >= 3)
    name_handles = frozenset(
        x
        for x in (first + last, (first[:1] + last) if last else "", last + first, full.replace(" ", ""))
        if x
    )
    birth_date = "".join(_DIGITS.findall(record.attribute("birth_date") or ""))
    postcode = normalize_name(record.attribute("postcode")).replace(" ", "")
    address = normalize_name(record.attribute("address"))
    national_id = "".join(_DIGITS.findall(record.attribute("national_id") or ""))
    registry = record.emails or record.phones or birth_date or postcode or address or national_id
    return Prepared(
        record_id=record.record_id,
        first=first,
        last=last,
        full_name=full,
        full_tokens=frozenset(full.split()),
        accounts=accounts,
        linked=linked_keys(record),
        handle_locals=locals_,
        name_handles=name_handles,
        emails=emails(record),
        phones=phones(record),
        domains=personal_domains(record),
        location=normalize_name(record.location),
        company=normalize_name(record.company),
        birth_date=birth_date,
        postcode=postcode,
        address=address,
        national_id=national_id,
        has_name=bool(full or first or last),
        bio_words=_bio_words(record.bio),
        social=record.source in SOCIAL_SOURCES and bool(accounts) and not registry,
    )


Features = dict[str, tuple[float, str]]


def compare(a: Prepared, b: Prepared, cosine: float | None = None) -> Features:
    """The active features of the pair ``(a, b)`` with their details; symmetric in ``a`` and ``b``."""
    out: Features = {}
    if cosine is not None and math.isfinite(cosine):
        c = min(1.0, max(-1.0, float(cosine)))
        out["cosine"] = (c, f"profile texts' embedding cosine {c:.3f}")
        out["cosine_present"] = (1.0, "")
    if a.social and b.social:  # the context: what agrees or differs means something else here
        out["social_pair"] = (1.0, "two network accounts")
    _names(a, b, out)
    _accounts(a, b, out)
    _sets("email", a.emails, b.emails, out)
    _sets("phone", a.phones, b.phones, out)
    _sets("domain", a.domains, b.domains, out)
    _text_levels("location", a.location, b.location, out)
    _bio(a.bio_words, b.bio_words, out)
    if a.company and b.company:
        same = a.company == b.company or fuzz.token_set_ratio(a.company, b.company) >= 90
        out["company_same" if same else "company_different"] = (1.0, f"{a.company!r} vs {b.company!r}")
    _birth_date(a.birth_date, b.birth_date, out)
    _codes("postcode", a.postcode, b.postcode, out)
    _codes("national_id", a.national_id, b.national_id, out)
    _text_levels("address", a.address, b.address, out)
    return out


def _names(a: Prepared, b: Prepared, out: Features) -> None:
    if a.first and b.first:
        detail = f"given names {a.first!r} / {b.first!r}"
        jw = JaroWinkler.similarity(a.first, b.first)
        if a.first == b.first:
            out["first_exact"] = (1.0, detail)
        elif are_nicknames(a.first, b.first):
            out["first_nickname"] = (1.0, detail + " (nickname)")
        elif (len(a.first) == 1 or len(b.first) == 1) and a.first[0] == b.first[0]:
            out["first_initial"] = (1.0, detail + " (initial)")
        elif jw >= 0.92:
            out["first_similar"] = (1.0, f"{detail} (jaro-winkler {jw:.2f})")
        elif jw >= 0.8:
            out["first_weak"] = (1.0, f"{detail} (jaro-winkler {jw:.2f})")
        else:
            out["first_different"] = (1.0, detail)
    if a.last and b.last:
        detail = f"surnames {a.last!r} / {b.last!r}"
        jw = JaroWinkler.similarity(a.last, b.last)
        if a.last == b.last:
            out["last_exact"] = (1.0, detail)
        elif (len(a.last) == 1 or len(b.last) == 1) and a.last[0] == b.last[0]:
            out["last_initial"] = (1.0, detail + " (initial)")  # "Anna N." for "Anna Neumaier"
        elif jw >= 0.92:
            out["last_similar"] = (1.0, f"{detail} (jaro-winkler {jw:.2f})")
        elif jw >= 0.8:
            out["last_weak"] = (1.0, f"{detail} (jaro-winkler {jw:.2f})")
        else:
            out["last_different"] = (1.0, detail)
        if a.first and b.first and a.first != a.last and a.first == b.last and a.last == b.first:
            out["names_swapped"] = (1.0, "given name and surname swapped")
    # the whole name only when a given name or surname is missing (else it repeats first + last and
    # would double-count them)
    both_split = a.first and a.last and b.first and b.last
    if a.full_name and b.full_name and not both_split:
        detail = f"names {a.full_name!r} / {b.full_name!r}"
        if a.full_tokens == b.full_tokens:
            out["full_name_exact"] = (1.0, detail)
        else:
            sim = fuzz.token_set_ratio(a.full_name, b.full_name) / 100.0
            level = "similar" if sim >= 0.85 else "weak" if sim >= 0.7 else "different"
            out[f"full_name_{level}"] = (1.0, f"{detail} (token-set {sim:.2f})")
    if a.has_name != b.has_name:
        out["name_missing_one"] = (1.0, "a name on one side only")


def _accounts(a: Prepared, b: Prepared, out: Features) -> None:
    shared = a.accounts & b.accounts
    if shared:
        out["same_account"] = (1.0, "same account: " + ", ".join(sorted(shared)))
    links = (a.linked & b.accounts) | (b.linked & a.accounts) | (a.linked & b.linked)
    if links:
        out["linked_account"] = (1.0, "linked: " + ", ".join(sorted(links)))
    if a.handle_locals and b.handle_locals:
        level, detail = _handle_level(a.handle_locals, b.handle_locals)
        out[f"handle_{level}"] = (1.0, detail)
    pairs = [(h, n) for h in a.handle_locals for n in b.name_handles]
    pairs += [(h, n) for h in b.handle_locals for n in a.name_handles]
    if pairs:
        h, n = max(pairs, key=lambda p: JaroWinkler.similarity(p[0], p[1]))
        if JaroWinkler.similarity(h, n) >= 0.92:
            out["handle_matches_name"] = (1.0, f"handle {h!r} ~ name {n!r}")


def _handle_level(x: frozenset[str], y: frozenset[str]) -> tuple[str, str]:
    """How the user-chosen handle parts relate: exact, one contained in the other ("heelwiley" /
    "theheelwiley"), similar spelling, a long shared part ("seonaidsnail" / "seonaidbarber"), or not."""
    detail = f"handles {sorted(x)} / {sorted(y)}"
    best = max(JaroWinkler.similarity(p, q) for p in x for q in y)
    if best == 1.0:
        return "exact", detail
    stems = [(p.rstrip("0123456789"), q.rstrip("0123456789")) for p in x for q in y]
    if any(min(len(p), len(q)) >= MIN_HANDLE_PART and (p in q or q in p) for p, q in stems):
        return "contains", f"{detail} (one contains the other)"
    if best >= 0.9:
        return "similar", f"{detail} (jaro-winkler {best:.2f})"
    shared = max(_longest_common(p, q) for p in x for q in y)
    if shared >= 5:
        return "overlap", f"{detail} ({shared} characters in common)"
    return "different", detail


def _longest_common(x: str, y: str) -> int:
    """Length of the longest common substring (the same whichever record came first). Each start
    in the shorter string extends only while the piece still occurs in the other, and only past the
    best length so far: a few C-speed substring searches for handle-sized strings, ~5x faster here
    than difflib's SequenceMatcher, which builds an index of the second string on every call."""
    if len(x) > len(y):
        x, y = y, x
    best = 0
    for i in range(len(x) - 1, -1, -1):
        j = i + best + 1
        while j <= len(x) and x[i:j] in y:
            best = j - i
            j += 1
    return best


def _bio(x: tuple[str, ...], y: tuple[str, ...], out: Features) -> None:
    """Word overlap of the two bios, over the shorter one (a bio cut short or partly dropped on the
    other network still agrees on what is left)."""
    if bool(x) != bool(y):
        out["bio_missing_one"] = (1.0, "a bio on one side only")
        return
    if not x:
        return
    if x == y:
        out["bio_same"] = (1.0, "the same bio")
        return
    sx, sy = set(x), set(y)
    shared = len(sx & sy)
    overlap = shared / min(len(sx), len(sy))
    if overlap >= 0.6 and shared >= 3:
        level = "overlap"
    elif overlap >= 0.3 and shared >= 2:
        level = "some"
    else:
        level = "different"
    out[f"bio_{level}"] = (1.0, f"bios share {shared} words ({overlap:.0%} of the shorter)")


def _sets(field: str, x: frozenset[str], y: frozenset[str], out: Features) -> None:
    if x and y:
        shared = x & y
        if shared:
            out[f"{field}_same"] = (1.0, f"shared {field}: " + ", ".join(sorted(shared)))
        else:
            out[f"{field}_different"] = (1.0, f"{field}s differ")


def _text_levels(field: str, x: str, y: str, out: Features) -> None:
    if x and y:
        if x == y:
            out[f"{field}_exact"] = (1.0, f"{field} {x!r}")
        else:
            sim = fuzz.token_set_ratio(x, y) / 100.0
            level = "similar" if sim >= 0.8 else "different"
            out[f"{field}_{level}"] = (1.0, f"{field} {x!r} / {y!r} ({sim:.2f})")


def _codes(field: str, x: str, y: str, out: Features) -> None:
    if x and y:
        if x == y:
            out[f"{field}_exact"] = (1.0, f"{field} {x}")
        elif Levenshtein.distance(x, y) <= 1 or (sorted(x) == sorted(y) and len(x) >= 4):
            out[f"{field}_close"] = (1.0, f"{field} {x} / {y} (one edit)")
        else:
            out[f"{field}_different"] = (1.0, f"{field} {x} / {y}")


def _birth_date(x: str, y: str, out: Features) -> None:
    if not (x and y):
        return
    if x == y and not (len(x) == 8 and x[4:] == "0101"):
        out["birth_date_exact"] = (1.0, f"born {x}")
        return
    if len(x) == 8 and len(y) == 8 and (x[4:] == "0101" or y[4:] == "0101"):
        # 1 January stands in for "only the year is known": agreeing on it is agreeing on a year
        level = "close" if x[:4] == y[:4] else "different"
        out[f"birth_date_{level}"] = (1.0, f"born {x} / {y} (year only)")
        return
    close = Levenshtein.distance(x, y) <= 1
    if len(x) == 8 and len(y) == 8:
        parts_x, parts_y = (x[:4], x[4:6], x[6:]), (y[:4], y[4:6], y[6:])
        same_parts = sum(p == q for p, q in zip(parts_x, parts_y, strict=True))
        swapped = parts_x[0] == parts_y[0] and parts_x[1] == parts_y[2] and parts_x[2] == parts_y[1]
        close = close or same_parts == 2 or swapped
    level = "close" if close else "different"
    out[f"birth_date_{level}"] = (1.0, f"born {x} / {y}")


def clear_caches() -> None:
    """Drop every cached normalized record and name lookup (erasure: no copy of a forgotten person's
    fields may outlive it in memory)."""
    from identity.blocking import phonetic, soundex
    from identity.nicknames import are_nicknames, canonical_forms

    for cached in (prepare, phonetic, soundex, are_nicknames, canonical_forms):
        cached.cache_clear()
