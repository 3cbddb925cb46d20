"""CRM customer import: CSV or JSON contact exports -> ``ProfileRecord`` per row, and a report.

Pure: bytes in, records and row errors out (the graph writer is ``identity.persons``).

Column names differ between CRMs (Salesforce "Account Name", HubSpot "Record ID" / "Company Name",
Pipedrive "Person - Email - Work"), so a header is normalized (lower case, letters and digits only,
a leading "person"/"contact" qualifier dropped) and looked up in ``COLUMN_ALIASES``. Unknown columns
are ignored (listed in the report). JSON accepts a list of objects, or an object holding the list
under ``records``/``results``/``contacts``/``data``/``items``; a HubSpot-style ``properties`` object
inside a row is flattened into it.

Every row either yields a record or a ``RowError`` with the reason: none is dropped silently. A
row's id is stable across re-imports: the export's id column, else a hash of the normalized email
(``crm:email-<sha256[:20]>``); a row with neither cannot be re-imported without duplicating, so it
is refused with that reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from identity.records import ProfileRecord

MAX_ROWS = 200_000
MAX_FIELD_CHARS = 2_000

#: canonical field -> normalized header spellings (see ``normalize_header``)
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "id": (
        "id",
        "recordid",
        "contactid",
        "customerid",
        "crmid",
        "externalid",
        "leadid",
        "personid",
        "hubspotid",
        "hsobjectid",
        "salesforceid",
        "sfid",
    ),
    "first_name": ("firstname", "first", "givenname", "forename"),
    "last_name": ("lastname", "last", "surname", "familyname"),
    "full_name": ("name", "fullname", "contactname", "displayname", "customername"),
    "email": ("email", "emailaddress", "email1", "primaryemail", "workemail", "emailwork", "mail"),
    "email_extra": (
        "email2",
        "secondaryemail",
        "otheremail",
        "personalemail",
        "emailhome",
        "emailother",
        "additionalemailaddresses",
        "alternateemail",
    ),
    "phone": (
        "phone",
        "phonenumber",
        "mobile",
        "mobilephone",
        "mobilephonenumber",
        "workphone",
        "businessphone",
        "phonework",
        "phonemobile",
        "phonehome",
        "homephone",
        "telephone",
        "tel",
    ),
    "company": (
        "company",
        "companyname",
        "accountname",
        "account",
        "organization",
        "organisation",
        "organizationname",
        "associatedcompany",
        "employer",
    ),
    "website": (
        "website",
        "websiteurl",
        "web",
        "homepage",
        "url",
        "companywebsite",
        "companydomainname",
        "domain",
    ),
    "twitter": ("twitter", "twitterhandle", "twitterusername", "twitterurl", "x", "xhandle", "xusername"),
    "linkedin": ("linkedin", "linkedinurl", "linkedinprofile", "linkedinbio"),
    "bluesky": ("bluesky", "blueskyhandle", "bsky"),
    "mastodon": ("mastodon", "mastodonhandle", "fediverse"),
    "reddit": ("reddit", "redditusername", "reddithandle"),
    "instagram": ("instagram", "instagramhandle"),
    "github": ("github", "githubusername", "githuburl"),
    "facebook": ("facebook", "facebookurl", "facebookprofile"),
    "social": ("social", "socialprofiles", "profileurls", "socialprofile", "profiles", "links"),
    "tier": (
        "tier",
        "customertier",
        "segment",
        "customersegment",
        "lifecyclestage",
        "label",
        "rating",
        "plan",
    ),
    "value": (
        "lifetimevalue",
        "ltv",
        "clv",
        "customerlifetimevalue",
        "totalrevenue",
        "revenue",
        "totalspend",
        "value",
        "customervalue",
        "wondealsvalue",
        "totaldealvalue",
    ),
    "location": ("location", "city", "mailingcity", "address", "country", "mailingcountry"),
    "title": ("title", "jobtitle"),
}
_ALIAS = {alias: canon for canon, aliases in COLUMN_ALIASES.items() for alias in aliases}
_QUALIFIERS = ("person", "contact", "customer", "lead")
_SOCIAL = ("twitter", "linkedin", "bluesky", "mastodon", "reddit", "instagram", "github", "facebook")
_SOCIAL_PREFIX = {
    "twitter": "x:@",
    "bluesky": "bluesky:@",
    "mastodon": "mastodon:",
    "reddit": "reddit:u/",
    "instagram": "instagram:@",
    "github": "github:@",
}
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
_ID_CHARS = re.compile(r"^[\w.\-:@+/]{1,200}$")


def normalize_header(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.strip().lower())


def canonical_column(header: str) -> str | None:
    """The canonical field a header names, or None (unknown columns are reported, not guessed)."""
    key = normalize_header(header)
    if key in _ALIAS:
        return _ALIAS[key]
    for q in _QUALIFIERS:
        if key.startswith(q) and key[len(q) :] in _ALIAS:
            return _ALIAS[key[len(q) :]]
    stripped = next((key[len(q) :] for q in _QUALIFIERS if key.startswith(q)), key)
    if stripped.startswith("email"):
        return "email_extra"
    if stripped.startswith("phone"):
        return "phone"
    return None


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # 1-based data row (CSV: the header is row 0) or list index + 1 for JSON
    reason: str
    record_id: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedRow:
    row: int
    record: ProfileRecord


@dataclass(slots=True)
class ParseResult:
    rows: list[ParsedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    blank_rows: int = 0  # rows with no value at all (counted, not errors)
    ignored_columns: tuple[str, ...] = ()
    total_rows: int = 0

    @property
    def records(self) -> list[ProfileRecord]:
        return [r.record for r in self.rows]

    def to_dict(self) -> dict[str, Any]:
        return {
            "total_rows": self.total_rows,
            "parsed": len(self.rows),
            "failed": len(self.errors),
            "blank_rows": self.blank_rows,
            "ignored_columns": list(self.ignored_columns),
            "errors": [{"row": e.row, "record_id": e.record_id, "reason": e.reason} for e in self.errors],
        }


class ImportFormatError(ValueError):
    """The file as a whole cannot be read (not one bad row: a bad file)."""


def detect_format(name: str, data: bytes) -> str:
    lowered = name.lower()
    if lowered.endswith((".json", ".jsonl", ".ndjson")):
        return "json"
    if lowered.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    head = data.lstrip()[:1]
    return "json" if head in (b"[", b"{") else "csv"


def parse_file(name: str, data: bytes) -> ParseResult:
    """Parse an export by its name (extension) or, failing that, its first byte."""
    return parse_json(data) if detect_format(name, data) == "json" else parse_csv(data)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")  # Excel writes a BOM
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")  # older Windows CRM exports


def parse_csv(data: bytes) -> ParseResult:
    text = _decode(data)
    if not text.strip():
        raise ImportFormatError("the file is empty")
    sample = text[:8192]
    # only the delimiter is sniffed (from the header line): the sniffer guesses quoting from quotes
    # it sees, and a header without any made it turn off doubled quotes ("" inside a quoted field),
    # which split a quoted multi-line field into rows. CRM exports quote the way Excel does.
    try:
        delimiter = csv.Sniffer().sniff(sample.splitlines()[0], delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text), csv.excel, delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as e:
        raise ImportFormatError(f"no header row: {e}") from e
    columns = [h.strip() for h in header]
    if not any(canonical_column(h) for h in columns):
        raise ImportFormatError(f"no known column in the header {columns[:12]!r}")
    result = ParseResult(ignored_columns=tuple(h for h in columns if h and canonical_column(h) is None))
    seen: dict[str, int] = {}
    row_no = 0
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            row_no += 1
            result.total_rows += 1
            result.errors.append(RowError(row_no, f"unreadable CSV row: {e}"))
            continue
        row_no += 1
        if row_no > MAX_ROWS:
            raise ImportFormatError(f"more than {MAX_ROWS} rows: split the file")
        if not any(v.strip() for v in values):
            result.blank_rows += 1
            continue
        result.total_rows += 1
        if len(values) > len(columns):
            result.errors.append(
                RowError(row_no, f"row has {len(values)} fields, the header has {len(columns)}")
            )
            continue
        _add_row(result, seen, row_no, list(zip(columns, values, strict=False)))
    return result


def parse_json(data: bytes) -> ParseResult:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        lines = [ln for ln in data.splitlines() if ln.strip()]
        try:  # JSON lines
            doc = [orjson.loads(ln) for ln in lines]
        except orjson.JSONDecodeError as e:
            raise ImportFormatError(f"not JSON: {e}") from e
    rows: Any = doc
    if isinstance(doc, dict):
        for key in ("records", "results", "contacts", "customers", "data", "items"):
            if isinstance(doc.get(key), list):
                rows = doc[key]
                break
        else:
            rows = [doc]
    if not isinstance(rows, list):
        raise ImportFormatError("expected a list of contact objects")
    if len(rows) > MAX_ROWS:
        raise ImportFormatError(f"more than {MAX_ROWS} rows: split the file")
    result = ParseResult()
    ignored: dict[str, None] = {}
    seen: dict[str, int] = {}
    for i, obj in enumerate(rows, start=1):
        result.total_rows += 1
        if not isinstance(obj, dict):
            result.errors.append(RowError(i, f"row is a {type(obj).__name__}, not an object"))
            continue
        flat = _flatten(obj)
        if not any(_text(v) for _, v in flat):
            result.total_rows -= 1
            result.blank_rows += 1
            continue
        for k, _ in flat:
            if canonical_column(k) is None:
                ignored.setdefault(k)
        _add_row(result, seen, i, flat)
    result.ignored_columns = tuple(ignored)
    return result


def _flatten(obj: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Row fields; a nested ``properties`` object (HubSpot API) is lifted, ``attributes``
    (Salesforce API metadata) dropped."""
    out: list[tuple[str, Any]] = []
    for k, v in obj.items():
        if k == "attributes":
            continue
        if k == "properties" and isinstance(v, dict):
            out.extend((str(pk), pv) for pk, pv in v.items())
        else:
            out.append((str(k), v))
    return out


def _text(v: Any) -> str:
    if v is None or isinstance(v, bool):
        return ""
    if isinstance(v, int | float):
        return repr(v) if isinstance(v, float) else str(v)
    if isinstance(v, list | tuple):
        return ", ".join(_text(x) for x in v if _text(x))
    if isinstance(v, dict):
        # {"value": ..} / {"email": ..} style cells
        for key in ("value", "email", "url", "handle", "number"):
            if key in v:
                return _text(v[key])
        return ""
    return str(v).strip()


def _split_multi(value: str) -> list[str]:
    return [p.strip() for p in re.split(r"[;,|\n]| / ", value) if p.strip()]


def normalize_email(value: str) -> str:
    return value.strip().strip("<>").lower()


def parse_money(value: str) -> float:
    """'$1,234.50', '1 234,50 EUR', '1234' -> float; raises ValueError with the reason."""
    s = re.sub(r"[^\d,.\-]", "", value)
    if not re.search(r"\d", s):
        raise ValueError(f"lifetime value {value!r} is not a number")
    if "," in s and "." in s:
        s = s.replace(",", "") if s.rfind(".") > s.rfind(",") else s.replace(".", "").replace(",", ".")
    elif "," in s:
        head, _, tail = s.rpartition(",")
        s = s.replace(",", "") if len(tail) == 3 else head.replace(",", "") + "." + tail
    try:
        amount = float(s)
    except ValueError as e:
        raise ValueError(f"lifetime value {value!r} is not a number") from e
    if amount < 0 or amount != amount or amount == float("inf"):
        raise ValueError(f"lifetime value {value!r} is negative or not finite")
    return amount


def stable_record_id(raw_id: str | None, email: str | None) -> str | None:
    if raw_id:
        return "crm:" + raw_id
    if email:
        return "crm:email-" + hashlib.sha256(email.encode()).hexdigest()[:20]
    return None


def _social_link(kind: str, value: str) -> str:
    """A handle cell -> a link the blocking keys understand; URLs are kept as they are."""
    v = value.strip()
    if "://" in v or kind in ("linkedin", "facebook"):
        return v
    if kind == "mastodon":
        return "mastodon:" + (v if v.startswith("@") else "@" + v)
    if kind == "reddit":
        v = v.removeprefix("/").removeprefix("u/")
    return _SOCIAL_PREFIX.get(kind, kind + ":") + v.lstrip("@")


def _add_row(result: ParseResult, seen: dict[str, int], row: int, pairs: Iterable[tuple[str, Any]]) -> None:
    record, error = row_to_record(pairs)
    if error is not None:
        result.errors.append(RowError(row, error, record.record_id if record else None))
        return
    assert record is not None
    first = seen.get(record.record_id)
    if first is not None:
        result.errors.append(
            RowError(row, f"duplicate of row {first} (same id {record.record_id!r})", record.record_id)
        )
        return
    seen[record.record_id] = row
    result.rows.append(ParsedRow(row, record))


def row_to_record(pairs: Iterable[tuple[str, Any]]) -> tuple[ProfileRecord | None, str | None]:
    """One row's (header, value) pairs -> (record, None) or (record or None, reason)."""
    fields: dict[str, list[str]] = {}
    for header, raw in pairs:
        canon = canonical_column(header)
        value = _text(raw)
        if canon is None or not value:
            continue
        if len(value) > MAX_FIELD_CHARS:
            return None, f"column {header!r} is longer than {MAX_FIELD_CHARS} characters"
        fields.setdefault(canon, []).append(value)

    def one(name: str) -> str | None:
        values = fields.get(name)
        return values[0] if values else None

    raw_id = one("id")
    if raw_id is not None and not _ID_CHARS.match(raw_id):
        return None, f"id {raw_id[:60]!r} has characters an id cannot have"
    emails: list[str] = []
    for name in ("email", "email_extra"):
        for cell in fields.get(name, []):
            for part in _split_multi(cell):
                email = normalize_email(part)
                if not _EMAIL.match(email):
                    if name == "email":
                        return None, f"invalid email {part[:80]!r}"
                    continue  # a secondary address in free text: not worth refusing the row
                if email not in emails:
                    emails.append(email)
    record_id = stable_record_id(raw_id, emails[0] if emails else None)
    first, last, full = one("first_name"), one("last_name"), one("full_name")
    if full is None and (first or last):
        full = " ".join(p for p in (first, last) if p)
    if full is not None and first is None and last is None:
        parts = full.split()
        if len(parts) >= 2:
            first, last = parts[0], " ".join(parts[1:])
    phones = tuple(dict.fromkeys(p for cell in fields.get("phone", []) for p in _split_multi(cell)))
    links: list[str] = []
    for kind in _SOCIAL:
        for cell in fields.get(kind, []):
            links.extend(_social_link(kind, p) for p in _split_multi(cell))
    for cell in fields.get("social", []):
        links.extend(_split_multi(cell))
    websites = tuple(dict.fromkeys(w for cell in fields.get("website", []) for w in _split_multi(cell)))
    amount: float | None = None
    if (money := one("value")) is not None:
        try:
            amount = parse_money(money)
        except ValueError as e:
            return None, str(e)
    if record_id is None:
        return None, "no id column and no email: no stable id, so a re-import would duplicate the customer"
    if not (full or emails or phones or links):
        return None, "no identifying field (name, email, phone, handle or profile URL)"
    record = ProfileRecord(
        record_id=record_id,
        source="crm",
        display_name=full,
        first_name=first,
        last_name=last,
        emails=tuple(emails),
        phones=phones,
        websites=websites,
        links=tuple(dict.fromkeys(links)),
        bio=one("title"),
        location=one("location"),
        company=one("company"),
        customer_value=amount,
        tier=one("tier"),
    )
    return record, None
