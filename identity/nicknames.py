"""Given names and their nicknames ("Tom" ~ "Thomas", "Bill" ~ "William"), from the ``nicknames`` package.

A thin, cached wrapper: the package's table is loaded once per process; lookups are folded to
lower-case ASCII first so "Élisabeth" and "elisabeth" behave alike.
"""

from __future__ import annotations

from functools import cache, lru_cache

from nicknames import NickNamer

from identity.normalize import fold


@cache
def _namer() -> NickNamer:
    return NickNamer()


@lru_cache(maxsize=65_536)
def canonical_forms(first_name: str) -> frozenset[str]:
    """The name itself plus the formal names it may be short for (``tom`` -> {tom, thomas, thom})."""
    name = fold(first_name).strip()
    if not name:
        return frozenset()
    return frozenset({name} | {c.lower() for c in _namer().canonicals_of(name)})


@lru_cache(maxsize=65_536)
def _nicknames(name: str) -> frozenset[str]:
    return frozenset(n.lower() for n in _namer().nicknames_of(name))


@lru_cache(maxsize=262_144)
def are_nicknames(a: str, b: str) -> bool:
    """True when one given name is a nickname of the other, or both shorten the same formal name."""
    x, y = fold(a).strip(), fold(b).strip()
    if not x or not y:
        return False
    if x == y or y in _nicknames(x) or x in _nicknames(y):
        return True
    return bool(canonical_forms(x) & canonical_forms(y))


def nicknames_of(first_name: str) -> frozenset[str]:
    """Known nicknames of a given name (``william`` -> {bill, will, ...})."""
    return _nicknames(fold(first_name).strip())
