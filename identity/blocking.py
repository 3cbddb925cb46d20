"""Exact blocking keys: cheap, high-recall ways two records of the same person can meet.

A key is a string two records share when they might be the same person: the same canonical account
(including Bridgy-Fed mirrors and profile links), the same user-chosen handle on different networks,
the same email, phone or personal website domain, the same (nickname-expanded) given name and
surname, a phonetic form of the name (typos), or a shared birth date, postcode or national id.
Keys are namespaced (``h:``, ``e:``, ``n:``, ...) so that different fields never collide.
Candidate pairs are the pairs sharing any key; blocks larger than ``max_block`` are skipped (a key
shared by that many records does not discriminate, and would cost quadratic comparisons).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache

import jellyfish

from identity.nicknames import canonical_forms
from identity.normalize import (
    canonical_handle,
    handle_domain,
    handle_from_record_id,
    handle_local,
    name_tokens,
    normalize_email,
    normalize_phone,
    personal_domain,
)
from identity.records import ProfileRecord

MIN_HANDLE_LOCAL = 4  # shorter user names ("jo", "tim") are shared by too many unrelated people
_ATTRIBUTE_KEYS = ("birth_date", "postcode", "national_id")


def account_keys(record: ProfileRecord) -> frozenset[str]:
    """Canonical accounts this record *is* (its handle, its id, its bridge mirror)."""
    keys = {canonical_handle(record.handle, record.source), handle_from_record_id(record.record_id)}
    return frozenset(k for k in keys if k)


def linked_keys(record: ProfileRecord) -> frozenset[str]:
    """Canonical accounts this record *points at* (profile links, bridge links, handles named in links)."""
    keys = {canonical_handle(link) for link in record.links}
    keys |= {canonical_handle(w) for w in record.websites}
    return frozenset(k for k in keys if k)


def personal_domains(record: ProfileRecord) -> frozenset[str]:
    """Websites the person controls: their sites, and domains proved by a domain handle."""
    domains = {personal_domain(w) for w in record.websites}
    domains |= {handle_domain(k) for k in account_keys(record) | linked_keys(record)}
    return frozenset(d for d in domains if d)


def emails(record: ProfileRecord) -> frozenset[str]:
    return frozenset(e for e in (normalize_email(x) for x in record.emails) if e)


def phones(record: ProfileRecord) -> frozenset[str]:
    return frozenset(p for p in (normalize_phone(x) for x in record.phones) if p)


_PRONOUNS = frozenset({"she", "her", "hers", "he", "him", "his", "they", "them", "theirs", "ze", "zir"})


def first_last(record: ProfileRecord) -> tuple[str, str]:
    """Folded given name and surname; taken from the display name's first and last word when absent
    (pronoun tags such as "(she/her)" are not names)."""
    first = " ".join(name_tokens(record.first_name))
    last = " ".join(name_tokens(record.last_name))
    if not first or not last:
        tokens = tuple(t for t in name_tokens(record.display_name) if t not in _PRONOUNS)
        if len(tokens) >= 2:
            first = first or tokens[0]
            last = last or tokens[-1]
        elif len(tokens) == 1 and not first and not last:
            first = tokens[0]
    return first.split(" ")[0] if first else "", last.replace(" ", "")


@lru_cache(maxsize=200_000)
def phonetic(word: str) -> str:
    return jellyfish.metaphone(word) if word.isascii() and word.isalpha() else word


@lru_cache(maxsize=200_000)
def soundex(word: str) -> str:
    return jellyfish.soundex(word) if word.isascii() and word.isalpha() else word


def name_keys(first: str, last: str, location: str, tokens: tuple[str, ...]) -> set[str]:
    keys: set[str] = set()
    if first and last:
        for form in canonical_forms(first):
            keys.add("n:" + "|".join(sorted((form, last))))  # order-free: "Smith John" meets "John Smith"
        keys.add(f"np:{first[0]}|{phonetic(last)}")  # typo in the surname
        keys.add(f"ns:{first[0]}|{soundex(last)}")
        keys.add(f"nq:{phonetic(first)}|{last[:2]}")  # typo in the given name
    if location:  # the place narrows a block enough to key on one part of the name
        if last:
            keys.add(f"ls:{location}|{soundex(last)}")
        for form in canonical_forms(first) if first else ():
            keys.add(f"lf:{location}|{form}")
        keys |= {f"lt:{location}|{t}" for t in tokens if len(t) >= 4}
    return keys


def blocking_keys(record: ProfileRecord) -> frozenset[str]:
    """Every exact key of ``record`` (see the module docstring for what each namespace means)."""
    keys: set[str] = set()
    accounts = account_keys(record) | linked_keys(record)
    keys |= {f"h:{k}" for k in accounts}
    for account in account_keys(record):
        local = handle_local(account)
        if len(local) >= MIN_HANDLE_LOCAL:
            keys.add(f"hl:{local}")
    keys |= {f"e:{e}" for e in emails(record)}
    keys |= {f"p:{p}" for p in phones(record)}
    keys |= {f"d:{d}" for d in personal_domains(record)}
    first, last = first_last(record)
    location = " ".join(name_tokens(record.location))
    keys |= name_keys(first, last, location, name_tokens(record.display_name))
    for name in _ATTRIBUTE_KEYS:
        value = record.attribute(name)
        if value and value.strip():
            keys.add(f"a:{name}:{value.strip().lower()}")
    return frozenset(keys)


def candidate_pairs(
    records: Sequence[ProfileRecord],
    *,
    max_block: int = 200,
    groups: Sequence[str] | None = None,
    keys: Iterable[frozenset[str]] | None = None,
) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, of records sharing a blocking key.

    With ``groups`` only pairs from different groups are returned (linking file A to file B);
    ``keys`` lets a caller pass precomputed ``blocking_keys`` per record.
    """
    blocks: dict[str, list[int]] = defaultdict(list)
    for i, record_keys in enumerate(keys if keys is not None else (blocking_keys(r) for r in records)):
        for key in record_keys:
            blocks[key].append(i)
    pairs: set[tuple[int, int]] = set()
    for members in blocks.values():
        if len(members) < 2 or len(members) > max_block:
            continue
        for x, i in enumerate(members):
            for j in members[x + 1 :]:
                if groups is not None and groups[i] == groups[j]:
                    continue
                pairs.add((i, j) if i < j else (j, i))
    return sorted(pairs)


__all__ = [
    "account_keys",
    "blocking_keys",
    "candidate_pairs",
    "emails",
    "first_last",
    "linked_keys",
    "personal_domains",
    "phones",
]
