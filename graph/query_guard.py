"""Refuse Cypher that could write or administer, before it reaches the graph store (pure).

The read-only Cypher endpoint for power users has three defences: this check, a transaction in
READ access mode (Neo4j enforces it; ArcadeDB's Bolt plugin does not), and that transaction is
always rolled back, never committed. This module is the first: a small tokenizer that drops
string literals, backticked names and comments (so that ``'CREATE'`` or ``\u0060SET\u0060`` as data
is fine), then refuses the clauses and names that change data, schema or the server:
``CREATE MERGE SET DELETE DETACH REMOVE DROP LOAD FOREACH`` ..., any ``CALL`` of a procedure
(``CALL {`` subqueries are allowed: their clauses are checked like the rest), ``db.`` / ``dbms.``
/ ``apoc.`` / ``gds.`` names, ``USE`` (another database), and more than one statement.

It is deliberately conservative: a map key or variable spelled like a write keyword (``{set: 1}``)
is refused too; rename it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: keywords that begin (or are part of) a clause that writes or administers
WRITE_KEYWORDS = frozenset(
    {
        "CREATE",
        "MERGE",
        "SET",
        "DELETE",
        "DETACH",
        "REMOVE",
        "DROP",
        "LOAD",
        "FOREACH",
        "ALTER",
        "GRANT",
        "REVOKE",
        "DENY",
        "RENAME",
        "START",
        "STOP",
        "TERMINATE",
        "ENABLE",
        "SHOW",
        "USE",
        "PERIODIC",
        "TRANSACTIONS",
        "IMPORT",
        "INSERT",
        "UPDATE",
        "UPSERT",
    }
)
#: namespaces whose functions/procedures reach outside the data (or into plugins)
FORBIDDEN_NAMESPACES = frozenset({"db", "dbms", "apoc", "gds", "sys", "system"})
MAX_QUERY_CHARS = 10_000

_WORD = re.compile(r"[^\W\d]\w*", re.UNICODE)


class ReadOnlyViolation(ValueError):
    """The text is not a single read-only Cypher statement; ``str()`` says why."""


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "word", "punct"
    text: str
    prev: str  # the significant character just before it ("" at the start)


def tokens(text: str) -> list[Token]:
    """Words and punctuation outside literals, backticked names and comments (those are dropped)."""
    out: list[Token] = []
    i, n = 0, len(text)
    prev = ""
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "'\"":
            end = _end_of_string(text, i)
            prev, i = "literal", end
            out.append(Token("literal", "", prev))
            continue
        if ch == "`":
            end = text.find("`", i + 1)
            while end != -1 and end + 1 < n and text[end + 1] == "`":  # `` escapes a backtick
                end = text.find("`", end + 2)
            if end == -1:
                raise ReadOnlyViolation("unterminated backticked name")
            out.append(Token("name", "", prev))
            prev, i = "name", end + 1
            continue
        if text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end == -1 else end + 1
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end == -1:
                raise ReadOnlyViolation("unterminated comment")
            i = end + 2
            continue
        m = _WORD.match(text, i)
        if m:
            out.append(Token("word", m.group(0), prev))
            prev, i = "word", m.end()
            continue
        out.append(Token("punct", ch, prev))
        prev, i = ch, i + 1
    return out


def _end_of_string(text: str, start: int) -> int:
    quote, i, n = text[start], start + 1, len(text)
    while i < n:
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    raise ReadOnlyViolation("unterminated string literal")


def check_read_only(text: str) -> str:
    """Return the statement (a trailing ``;`` removed) or raise ``ReadOnlyViolation``."""
    if not text or not text.strip():
        raise ReadOnlyViolation("empty query")
    if len(text) > MAX_QUERY_CHARS:
        raise ReadOnlyViolation(f"query longer than {MAX_QUERY_CHARS} characters")
    if "\x00" in text:
        raise ReadOnlyViolation("NUL character in query")
    toks = tokens(text)
    semis = [k for k, t in enumerate(toks) if t.kind == "punct" and t.text == ";"]
    if semis and semis != [len(toks) - 1]:
        raise ReadOnlyViolation("one statement only (';' separates statements)")
    for k, tok in enumerate(toks):
        if tok.kind != "word" or tok.prev in (".", "$"):  # a property key or a parameter name
            continue
        upper = tok.text.upper()
        if upper in WRITE_KEYWORDS:
            raise ReadOnlyViolation(f"{upper} is not allowed: read-only queries only")
        nxt = toks[k + 1] if k + 1 < len(toks) else None
        if upper == "CALL" and not (nxt is not None and nxt.kind == "punct" and nxt.text == "{"):
            raise ReadOnlyViolation("CALL of a procedure is not allowed (CALL { ... } subqueries are)")
        if (
            tok.text.lower() in FORBIDDEN_NAMESPACES
            and nxt is not None
            and nxt.kind == "punct"
            and nxt.text == "."
        ):
            raise ReadOnlyViolation(f"{tok.text}.* functions and procedures are not allowed")
    statement = text.rstrip()
    if semis:
        statement = statement[: statement.rfind(";")].rstrip()
    return statement
