"""The simulated company's CRM export (sources/_crm.py): made-up customers that are simulated people,
in a form the CRM import reads without a failed row."""

from __future__ import annotations

import csv
import io

from identity.crm_import import parse_file
from sources.simulate import Simulator


def rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def test_the_export_is_some_simulated_people_and_imports_without_a_failed_row() -> None:
    sim = Simulator(seed=7)
    data = sim.crm_export()
    contacts = rows(data)
    assert 0.10 * len(sim.people) < len(contacts) < 0.20 * len(sim.people)
    parsed = parse_file("simulated-crm-customers.csv", data)
    assert parsed.errors == [] and not parsed.ignored_columns
    assert len(parsed.rows) == len(contacts)
    truth = sim.crm_contacts()
    assert [t.row for t in truth] == contacts
    for t in truth:  # each row is what the CRM knows of the person it is, or blank
        p, c = sim.people[t.person], t.row
        assert c["Last Name"] == p.last and c["First Name"] in (p.first, p.first[0] + ".")
        assert c["City"] in ("", p.city) and c["Job Title"] in ("", p.role)
        assert c["Website URL"] in ("", p.website or "")
        assert c["Twitter Username"] in ("", p.accounts["x"].handle if "x" in p.accounts else "")
        assert float(c["Total Revenue"]) >= 120.0
    # some of them carry what links a customer to a social account beyond the name
    assert sum(bool(c["Website URL"]) for c in contacts) > len(contacts) / 3
    assert 0 < sum(bool(c["Twitter Username"]) for c in contacts) < len(contacts) / 4


def test_the_export_is_the_same_for_a_seed_and_differs_between_seeds() -> None:
    assert Simulator(seed=7).crm_export() == Simulator(seed=7).crm_export()
    assert Simulator(seed=7).crm_export() != Simulator(seed=8).crm_export()
