"""Field comparisons between two profiles, as the sparse features the matcher weighs.

Each field gives one of a few *levels* (exact, nickname, similar, different, ...), Fellegi-Sunter
style, encoded as an indicator feature; a field missing on either side gives no feature at all, so a
missing value is neither evidence for nor against. The embedding cosine of the two profile texts
is the one continuous feature. Every feature carries a short human-readable detail that becomes the
decision's evidence.

Records are first turned into ``Prepared`` (normalized once, cached), because the same record is
compared with many candidates.
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
from identity.normalize import handle_local, normalize_name
from identity.records import ProfileRecord

#: every feature the matcher knows, in model order
FEATURE_NAMES: tuple[str, ...] = (
    "cosine",
    "cosine_present",
    "first_exact",
    "first_nickname",
    "first_initial",
    "first_similar",
    "first_weak",
    "first_different",
    "last_exact",
    "last_similar",
    "last_weak",
    "last_different",
    "names_swapped",
    "full_name_exact",
    "full_name_similar",
    "full_name_weak",
    "full_name_different",
    "same_account",
    "linked_account",
    "handle_exact",
    "handle_similar",
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


@lru_cache(maxsize=200_000)
def prepare(record: ProfileRecord) -> Prepared:
    first, last = first_last(record)
    full = normalize_name(record.display_name) or " ".join(p for p in (first, last) if p)
    accounts = account_keys(record)
    locals_ = frozenset(x for x in (handle_local(a) for a in accounts) if len(x) >= 3)
    name_handles = frozenset(
        x
        for x in (first + last, (first[:1] + last) if last else "", last + first, full.replace(" ", ""))
        if x
    )
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
        birth_date="".join(_DIGITS.findall(record.attribute("birth_date") or "")),
        postcode=normalize_name(record.attribute("postcode")).replace(" ", ""),
        address=normalize_name(record.attribute("address")),
        national_id="".join(_DIGITS.findall(record.attribute("national_id") or "")),
    )


Features = dict[str, tuple[float, str]]


def compare(a: Prepared, b: Prepared, cosine: float | None = None) -> Features:
    """The active features of the pair ``(a, b)`` with their details; symmetric in ``a`` and ``b``."""
    out: Features = {}
    if cosine is not None and math.isfinite(cosine):
        c = min(1.0, max(-1.0, float(cosine)))
        out["cosine"] = (c, f"profile texts' embedding cosine {c:.3f}")
        out["cosine_present"] = (1.0, "")
    _names(a, b, out)
    _accounts(a, b, out)
    _sets("email", a.emails, b.emails, out)
    _sets("phone", a.phones, b.phones, out)
    _sets("domain", a.domains, b.domains, out)
    _text_levels("location", a.location, b.location, out)
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


def _accounts(a: Prepared, b: Prepared, out: Features) -> None:
    shared = a.accounts & b.accounts
    if shared:
        out["same_account"] = (1.0, "same account: " + ", ".join(sorted(shared)))
    links = (a.linked & b.accounts) | (b.linked & a.accounts) | (a.linked & b.linked)
    if links:
        out["linked_account"] = (1.0, "linked: " + ", ".join(sorted(links)))
    if a.handle_locals and b.handle_locals:
        best = max(JaroWinkler.similarity(x, y) for x in a.handle_locals for y in b.handle_locals)
        detail = f"handles {sorted(a.handle_locals)} / {sorted(b.handle_locals)}"
        if best == 1.0:
            out["handle_exact"] = (1.0, detail)
        elif best >= 0.9:
            out["handle_similar"] = (1.0, f"{detail} (jaro-winkler {best:.2f})")
        else:
            out["handle_different"] = (1.0, detail)
    pairs = [(h, n) for h in a.handle_locals for n in b.name_handles]
    pairs += [(h, n) for h in b.handle_locals for n in a.name_handles]
    if pairs:
        h, n = max(pairs, key=lambda p: JaroWinkler.similarity(p[0], p[1]))
        if JaroWinkler.similarity(h, n) >= 0.92:
            out["handle_matches_name"] = (1.0, f"handle {h!r} ~ name {n!r}")


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
