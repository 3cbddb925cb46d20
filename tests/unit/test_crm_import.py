"""CRM export parsing: column aliases of common CRMs, stable ids, and every bad row reported."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from identity.crm_import import (
    ImportFormatError,
    ParseResult,
    canonical_column,
    parse_file,
    parse_money,
    stable_record_id,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "crm"


def load(name: str) -> ParseResult:
    return parse_file(name, (DATA / name).read_bytes())


def test_salesforce_export_rows_and_reasons() -> None:
    result = load("salesforce_contacts.csv")
    by_id = {r.record_id: r for r in result.records}
    jane = by_id["crm:0035e00000AbCdE1"]
    assert (jane.first_name, jane.last_name, jane.display_name) == ("Jane", "Doe", "Jane Doe")
    assert jane.emails == ("jane.doe@example.com",)
    assert jane.company == "Example Corp" and jane.location == "San Francisco"
    assert jane.tier == "Gold" and jane.customer_value == 12450.0
    assert jane.websites == ("https://janedoe.dev",) and jane.links == ("x:@janedoe",)
    assert jane.phones == ("+1 415 555 0101",) and jane.source == "crm"
    assert by_id["crm:0035e00000AbCdE5"].customer_value == 1250.75  # European decimal comma
    reasons = {e.row: e.reason for e in result.errors}
    assert set(reasons) == {3, 4, 6}
    assert "invalid email" in reasons[3]
    assert "not a number" in reasons[4]
    assert "duplicate of row 2" in reasons[6]
    assert result.blank_rows == 1
    # nothing is dropped silently: every non-blank row is a record or an error
    assert len(result.records) + len(result.errors) == result.total_rows == 6


def test_hubspot_csv_and_missing_identity() -> None:
    result = load("hubspot_contacts.csv")
    maya = result.records[0]
    assert maya.record_id == "crm:101" and maya.tier == "customer" and maya.customer_value == 980.5
    assert "https://www.linkedin.com/in/mayalopez" in maya.links and "x:@mayalopez" in maya.links
    assert [e.row for e in result.errors] == [2]
    assert "no identifying field" in result.errors[0].reason
    assert [r.record_id for r in result.records] == ["crm:101", "crm:103"]


def test_pipedrive_semicolon_export_without_id_uses_email_hash() -> None:
    result = load("pipedrive_persons.csv")
    kai = result.records[0]
    assert kai.record_id == stable_record_id(None, "kai@nakamura.jp")
    assert kai.emails == ("kai@nakamura.jp", "kai.home@example.jp")
    assert (kai.first_name, kai.last_name, kai.company, kai.tier) == (
        "Kai",
        "Nakamura",
        "Nakamura KK",
        "Hot lead",
    )
    assert len(result.errors) == 1 and "no stable id" in result.errors[0].reason


def test_hubspot_api_json() -> None:
    result = load("hubspot_api.json")
    assert [r.record_id for r in result.records] == ["crm:201", "crm:202"]
    assert result.records[1].links == ("bluesky:@omar.bsky.social",)
    assert {e.row: e.reason for e in result.errors} == {
        3: "row is a str, not an object",
        4: "invalid email 'broken@'",
    }


def test_reimport_is_identical() -> None:
    assert load("salesforce_contacts.csv").records == load("salesforce_contacts.csv").records


def test_bad_files_are_one_clear_error() -> None:
    with pytest.raises(ImportFormatError, match="empty"):
        parse_file("x.csv", b"")
    with pytest.raises(ImportFormatError, match="no known column"):
        parse_file("x.csv", b"foo,bar\n1,2\n")
    with pytest.raises(ImportFormatError, match="not JSON"):
        parse_file("x.json", b"[{")
    result = parse_file("x.csv", b"Email,Name\na@b.co,A B,extra\n")
    assert "2 fields" in result.errors[0].reason or "3 fields" in result.errors[0].reason


@pytest.mark.parametrize(
    ("header", "canon"),
    [
        ("First Name", "first_name"),
        ("FirstName", "first_name"),
        ("Person - Email - Work", "email"),
        ("Email 3", "email_extra"),
        ("Account Name", "company"),
        ("hs_object_id", "id"),
        ("Favourite colour", None),
    ],
)
def test_column_aliases(header: str, canon: str | None) -> None:
    assert canonical_column(header) == canon


@pytest.mark.parametrize(
    ("text", "amount"), [("$1,234.50", 1234.5), ("1 234,50 EUR", 1234.5), ("1,250", 1250.0), ("0", 0.0)]
)
def test_money(text: str, amount: float) -> None:
    assert parse_money(text) == amount


def test_a_quoted_field_with_doubled_quotes_and_newlines_is_one_field() -> None:
    """The header has no quotes, so the sniffer used to turn doubled quotes off for the whole file
    (found by the property below: cells ['"\\n', '\\n'])."""
    result = parse_file("f.csv", b'Email,Name\n"""\n","\n"\r\n')
    assert (result.total_rows, result.blank_rows, len(result.errors)) == (1, 0, 1)
    assert "invalid email" in result.errors[0].reason


@given(st.lists(st.text(max_size=30), min_size=1, max_size=8))
@example(['"\n', "\n"])
def test_any_csv_row_is_a_record_or_an_error(cells: list[str]) -> None:
    header = ",".join(["Email", "Name", "Lifetime Value", "Id", "Phone", "X", "Y", "Z"][: len(cells)])
    buf = io.StringIO()
    csv.writer(buf).writerow(cells)
    result = parse_file("f.csv", (header + "\n" + buf.getvalue()).encode())
    assert len(result.records) + len(result.errors) == result.total_rows
    assert result.total_rows + result.blank_rows <= 2
